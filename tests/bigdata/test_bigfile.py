"""Conformance suite for the BigFile contract, run against each implementation."""

import io
import wave

import numpy as np
import pytest
import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from Products.Wendelin.bigdata import (
    BigFileError,
    BigFileReader,
    OutOfCoreError,
    ZBigFile,
    bigfile,
    mapping,
    memory_budget,
)


class BigFileConformance:
    """Subclass and define ``make`` to run the contract against another BigFile."""

    blksize = 4096

    def make(self, root):
        raise NotImplementedError

    def test_write_read_and_holes(self, root):
        f = self.make(root)
        f.write(10, b"abc")
        assert f.size == 13
        assert f.read(0, 13) == b"\0" * 10 + b"abc"
        f.write(3 * self.blksize + 5, b"z")
        assert f.read(self.blksize, self.blksize) == b"\0" * self.blksize
        assert f.read(3 * self.blksize + 4, 10) == b"\0z"

    def test_append_returns_offset_and_crosses_blocks(self, root):
        f = self.make(root)
        data = bytes(range(256)) * 50
        assert f.append(data) == 0
        assert f.append(b"tail") == len(data)
        assert f.read(0, f.size) == data + b"tail"

    def test_truncate_shrinks_and_grows_with_zeros(self, root):
        f = self.make(root)
        f.append(b"x" * (2 * self.blksize + 100))
        f.truncate(self.blksize + 1)
        assert f.size == self.blksize + 1
        f.truncate(self.blksize + 10)
        assert f.read(self.blksize, 10) == b"x" + b"\0" * 9
        f.truncate(0)
        assert f.size == 0 and f.read(0, 10) == b""

    def test_iterate(self, root):
        f = self.make(root)
        data = np.random.default_rng(1).integers(0, 256, 3 * self.blksize + 7, np.uint8).tobytes()
        f.append(data)
        assert b"".join(f.iterate()) == data
        chunks = list(f.iterate(5, 1005, chunk_size=100))
        assert all(len(c) == 100 for c in chunks) and b"".join(chunks) == data[5:1005]
        assert b"".join(f.iterate(len(data) - 3, None)) == data[-3:]

    def test_bad_inputs_name_the_value(self, root):
        f = self.make(root)
        with pytest.raises(BigFileError, match="-1"):
            f.read(-1, 3)
        with pytest.raises(BigFileError, match="-5"):
            f.write(-5, b"x")
        with pytest.raises(BigFileError, match="int"):
            f.write(0, 42)
        with pytest.raises(BigFileError, match="-2"):
            f.truncate(-2)
        with pytest.raises(BigFileError, match="chunk_size"):
            list(f.iterate(chunk_size=0))

    def test_read_over_budget_is_a_clear_error(self, root):
        f = self.make(root)
        f.truncate(10 * self.blksize)
        with memory_budget(self.blksize), pytest.raises(OutOfCoreError, match="iterate"):
            f.read(0, f.size)

    def test_persistence_and_abort(self, root, database):
        f = self.make(root)
        root["f"] = f
        f.append(b"committed")
        transaction.commit()
        f.append(b" and aborted")
        transaction.abort()
        assert f.read(0, 100) == b"committed"
        database.restart()
        connection = database.db.open()
        try:
            assert connection.root()["f"].read(0, 100) == b"committed"
        finally:
            connection.close()

    def test_committed_blocks_are_copied_on_write(self, root, database):
        f = self.make(root)
        f.append(b"a" * (3 * self.blksize + 10))
        transaction.commit()
        f.write(self.blksize + 5, b"bb")
        f.append(b"c")
        f.truncate(2 * self.blksize + 1)
        assert f.read(self.blksize, 8) == b"aaaaabba"
        transaction.abort()
        assert f.read(0, f.size) == b"a" * (3 * self.blksize + 10)
        f.write(self.blksize + 5, b"bb")
        transaction.commit()
        database.restart()
        connection = database.db.open()
        try:
            again = connection.root()["file"]
            assert again.read(self.blksize, 8) == b"aaaaabba"
            assert again.size == 3 * self.blksize + 10
        finally:
            connection.close()

    @settings(max_examples=40, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture,
                                     HealthCheck.differing_executors])
    @given(ops=st.lists(st.tuples(
        st.sampled_from(
            ["write", "append", "truncate", "commit", "savepoint", "rollback", "abort"]
        ),
        st.integers(0, 5000),
        st.binary(max_size=3000),
    ), max_size=12))
    def test_matches_a_bytearray_model(self, root, ops):
        """Writes within and across transactions (copy on write of committed extents,
        in-place writes of uncommitted ones, savepoints, aborts) match a bytearray."""
        f = self.make(root)
        transaction.commit()
        model, committed, savepoint = bytearray(), b"", None
        for op, offset, data in ops:
            if op == "commit":
                transaction.commit()
                committed, savepoint = bytes(model), None
            elif op == "savepoint":
                savepoint = (transaction.savepoint(), bytes(model))
            elif op == "rollback" and savepoint is not None:
                savepoint[0].rollback()
                model = bytearray(savepoint[1])
            elif op == "abort":
                transaction.abort()
                model, savepoint = bytearray(committed), None
            elif op == "write":
                f.write(offset, data)
                if offset > len(model):
                    model.extend(bytes(offset - len(model)))
                model[offset : offset + len(data)] = data
            elif op == "append":
                f.append(data)
                model.extend(data)
            else:
                f.truncate(offset)
                del model[offset:]
                model.extend(bytes(offset - len(model)))
            assert f.size == len(model)
        assert f.read(0, len(model) + 10) == bytes(model)
        transaction.abort()


class TestZBigFile(BigFileConformance):
    def make(self, root):
        f = ZBigFile(self.blksize)
        root["file"] = f
        return f


class TestZBigFileSmallExtents(BigFileConformance):
    """Extents of three blocks, so runs of blocks are split over several blob files."""

    @pytest.fixture(autouse=True)
    def small_extents(self, monkeypatch):
        monkeypatch.setattr(bigfile, "MAX_EXTENT", 3 * self.blksize)

    def make(self, root):
        f = ZBigFile(self.blksize)
        root["file"] = f
        return f


class TestZBigFileOddBlocks(BigFileConformance):
    """Block sizes that are not page multiples, with writes straddling blocks oddly."""

    blksize = 1000

    def make(self, root):
        f = ZBigFile(self.blksize)
        root["file"] = f
        return f


def test_blksize_must_be_positive():
    with pytest.raises(BigFileError, match="0"):
        ZBigFile(0)
    with pytest.raises(BigFileError, match="'4096'"):
        ZBigFile("4096")


def test_reader_refuses_bad_positions(root):
    f = ZBigFile(4096)
    f.append(b"abc")
    reader = BigFileReader(f)
    with pytest.raises(ValueError, match="-1"):
        reader.seek(-4, io.SEEK_END)
    with pytest.raises(ValueError, match="whence: 7"):
        reader.seek(0, 7)
    assert reader.tell() == 0 and reader.read() == b"abc"
    reader.seek(10)
    assert reader.read(5) == b""  # past the end reads nothing, like a file


def _wav_bytes(frames=44100, rate=44100):
    t = np.arange(frames) / rate
    left = (np.sin(2 * np.pi * 440 * t) * 20000).astype("<i2")
    right = (np.sin(2 * np.pi * 1000 * t) * 20000).astype("<i2")
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(np.stack([left, right], axis=1).tobytes())
    return out.getvalue(), left, right


def test_reader_is_accepted_by_wave_and_scipy(root):
    from scipy.io import wavfile

    data, left, right = _wav_bytes()
    f = ZBigFile(4096)
    root["wav"] = f
    for start in range(0, len(data), 10000):
        f.append(data[start : start + 10000])
    transaction.commit()
    with wave.open(BigFileReader(f)) as w:
        assert (w.getnchannels(), w.getframerate(), w.getnframes()) == (2, 44100, 44100)
    rate, samples = wavfile.read(BigFileReader(f))
    assert rate == 44100
    np.testing.assert_array_equal(samples[:, 0], left)
    np.testing.assert_array_equal(samples[:, 1], right)
    reader = BigFileReader(f)
    reader.seek(-4, io.SEEK_END)
    assert reader.read() == data[-4:] and reader.tell() == len(data)


class CountingReader(io.RawIOBase):
    """Passes reads through to a real reader, counting the bytes handed out."""

    def __init__(self, reader):
        super().__init__()
        self.reader, self.count = reader, 0

    def readable(self):
        return True

    def seekable(self):
        return True

    def readinto(self, buffer):
        n = self.reader.readinto(buffer)
        self.count += n
        return n

    def seek(self, offset, whence=io.SEEK_SET):
        return self.reader.seek(offset, whence)

    def tell(self):
        return self.reader.tell()


@pytest.mark.parametrize("format", ["WAV", "FLAC"])
def test_reader_is_accepted_by_soundfile_and_reads_only_what_it_needs(root, format):
    import soundfile

    rate = 8000
    samples = (np.sin(np.arange(20 * rate) / 7) * 20000).astype("<i2")
    encoded = io.BytesIO()
    soundfile.write(encoded, samples, rate, format=format, subtype="PCM_16")
    data = encoded.getvalue()
    f = ZBigFile(4096)
    root["sound"] = f
    for start in range(0, len(data), 10000):
        f.append(data[start : start + 10000])
    transaction.commit()
    got, got_rate = soundfile.read(BigFileReader(f), dtype="int16")
    assert got_rate == rate
    np.testing.assert_array_equal(got, samples)
    counting = CountingReader(BigFileReader(f))
    with soundfile.SoundFile(counting) as sound:
        sound.seek(15 * rate)
        np.testing.assert_array_equal(sound.read(100, dtype="int16"), samples[15 * rate :][:100])
    assert counting.count < len(data) // 2, (counting.count, len(data))


def test_mapped_view_sees_committed_and_uncommitted_blocks(root):
    from Products.Wendelin.bigdata.mapping import map_range

    f = ZBigFile(mapping.PAGESIZE)
    root["m"] = f
    f.append(b"a" * mapping.PAGESIZE + b"b" * 10)
    transaction.commit()
    f.write(mapping.PAGESIZE * 3, b"c")
    view = map_range(f, 0, f.size)
    assert view.readonly
    assert bytes(view[: mapping.PAGESIZE]) == b"a" * mapping.PAGESIZE
    assert bytes(view[mapping.PAGESIZE : mapping.PAGESIZE + 11]) == b"b" * 10 + b"\0"
    assert bytes(view[-1:]) == b"c"

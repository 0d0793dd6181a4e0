"""Conformance suite for the BigFile contract, run against each implementation."""

import io
import wave

import numpy as np
import pytest
import transaction
from Products.Wendelin.bigdata import (
    BigFileError,
    BigFileReader,
    ZBigFile,
    bigfile,
    mapping,
)
from Products.Wendelin.bigdata.testing import BigFileConformance


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

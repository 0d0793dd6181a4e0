"""The storage core's conformance suite, shipped with it (as ``zarr.testing`` is with zarr).

Subclass a suite and define its factory to run the contract against an implementation;
every test runs on a real ZODB twice, over a FileStorage with a blob directory and over a
real ZEO server on 127.0.0.1 whose client keeps its own (non-shared) blob cache:

- :class:`BigFileConformance`: ``make(root)``, a new file stored in ``root["file"]``;
- :class:`BigArrayConformance`: ``new(shape, dtype, order, blksize)``, a new array
  (numpy semantics of indexing, assignment, append and resize in orders C and F, dtypes,
  persistence, writable views that join the transaction, iterblocks);
- :class:`WendelinCoreConformance`: ``array_type``, ``file_type`` and ``array_base``,
  the classes behind wendelin.core's names (what its ZODB tests check).

The suites' names do not start with ``Test``: pytest collects them only through the
subclasses. Needs pytest and hypothesis (the ``test`` extra).
"""

from __future__ import annotations

import math
import threading
from typing import Any

import numpy as np
import pytest
import transaction
import ZEO
import ZODB
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from ZEO.ClientStorage import ClientStorage
from ZODB.FileStorage import FileStorage
from ZODB.POSException import ConflictError

from . import mapping
from .budget import memory_budget
from .errors import BigArrayError, BigDataError, BigFileError, OutOfCoreError

PAGE = mapping.PAGESIZE


class Database:
    """Opens, reopens (a 'restart' of the client) and closes one database in a directory."""

    def __init__(self, path, kind: str = "filestorage"):
        self.path = path
        self.kind = kind
        self.db = None
        self._stop_server = None
        self._clients = 0
        if kind == "zeo":
            self.address, self._stop_server = ZEO.server(
                path=str(path / "Data.fs"), blob_dir=str(path / "blobs")
            )
        self.open()

    def open(self):
        """A new ZODB.DB over the storage (a new ZEO client with its own blob cache)."""
        if self.kind == "zeo":
            self._clients += 1
            storage = ClientStorage(
                self.address, blob_dir=str(self.path / f"cache{self._clients}"),
                shared_blob_dir=False, wait_timeout=30,
            )
        else:
            storage = FileStorage(str(self.path / "Data.fs"), blob_dir=str(self.path / "blobs"))
        self.db = ZODB.DB(storage)
        return self.db

    def restart(self):
        transaction.abort()
        self.db.close()
        return self.open()

    def close(self):
        transaction.abort()
        self.db.close()
        if self._stop_server is not None:
            self._stop_server()


class StorageFixtures:
    """The ``database`` (FileStorage, then ZEO with a blob cache) and ``root`` fixtures
    every suite's tests run on."""

    @pytest.fixture(params=["filestorage", "zeo"])
    def database(self, tmp_path, request):
        database = Database(tmp_path, request.param)
        yield database
        database.close()

    @pytest.fixture
    def root(self, database):
        connection = database.db.open()
        yield connection.root()
        transaction.abort()
        connection.close()


class BigFileConformance(StorageFixtures):
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


ARRAY_SETTINGS = settings(
    max_examples=60, deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.differing_executors],
)
ARRAY_SHAPES = hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=9)
ARRAY_DTYPES = st.sampled_from(
    ["i1", "<u2", ">i4", "f4", "<f8", "c8", [("t", "<f8"), ("x", "i2")]]
)


class BigArrayConformance(StorageFixtures):
    """Subclass and define ``new`` to run numpy's semantics against another ZBigArray.

    Views need block sizes that are page multiples (``blksize``, the default of ``new``);
    ``live_blksize`` is the block size of the tests on writable views (many blocks)."""

    blksize = PAGE
    live_blksize = 4 * PAGE

    def new(self, shape: Any, dtype: Any, order: str = "C", blksize: int | None = None) -> Any:
        """A new array (not yet stored) of this implementation."""
        raise NotImplementedError

    @pytest.fixture(params=[True, False], ids=["mapped", "copied"])
    def mapping_mode(self, request, monkeypatch):
        """Views mapped from the blob files, and read-only copies of the stored bytes."""
        monkeypatch.setattr(mapping, "mapping_enabled", request.param)
        return request.param

    def filled(self, root, shape, dtype="f8", order="C", blksize=None):
        """An array stored under ``root["array"]`` holding ``arange``, and that reference."""
        reference = np.arange(int(np.prod(shape)), dtype=dtype).reshape(shape, order=order)
        array = self.new(shape, dtype, order=order, blksize=blksize or self.blksize)
        root["array"] = array
        array[...] = reference
        return array, reference

    def committed(self, root, shape=None, dtype="u1", order="C", blksize=None, name="a"):
        """A new array stored and committed under ``root[name]`` (blocks of live_blksize)."""
        blksize = blksize or self.live_blksize
        root[name] = self.new(shape or (40 * blksize,), dtype, order=order, blksize=blksize)
        transaction.commit()
        return root[name]

    # -- numpy semantics ---------------------------------------------------------------------
    @ARRAY_SETTINGS
    @given(data=st.data(), shape=ARRAY_SHAPES, order=st.sampled_from("CF"))
    def test_basic_indexing_matches_numpy(self, root, data, shape, order):
        array, reference = self.filled(root, shape, order=order, blksize=PAGE)
        key = data.draw(hnp.basic_indices(shape, allow_newaxis=True, allow_ellipsis=True))
        expected = reference[key]
        got = array[key]
        np.testing.assert_array_equal(got, expected)
        assert np.shape(got) == np.shape(expected)
        if isinstance(got, np.ndarray):
            assert not got.flags.writeable
        transaction.abort()

    @ARRAY_SETTINGS
    @given(data=st.data(), shape=ARRAY_SHAPES, order=st.sampled_from("CF"))
    def test_assignment_matches_numpy(self, root, data, shape, order):
        array, reference = self.filled(root, shape, order=order, blksize=PAGE)
        key = data.draw(hnp.basic_indices(shape, allow_newaxis=True, allow_ellipsis=True))
        target = reference[key]
        value_shape = data.draw(
            hnp.broadcastable_shapes(np.shape(target), min_side=0, max_dims=2))
        value = data.draw(hnp.arrays("f8", value_shape, elements=st.floats(-1e6, 1e6)))
        try:
            reference[key] = value
        except ValueError:
            with pytest.raises(ValueError):
                array[key] = value
            return
        array[key] = value
        np.testing.assert_array_equal(array[...], reference)
        transaction.abort()

    @ARRAY_SETTINGS
    @given(
        rows=st.lists(st.integers(0, 700), min_size=1, max_size=5),
        trailing=st.sampled_from([(), (3,), (2, 2)]),
    )
    def test_append_and_resize_match_numpy(self, root, rows, trailing):
        array = self.new((0, *trailing), "i4", blksize=PAGE)
        root["array"] = array
        reference = np.zeros((0, *trailing), "i4")
        for n in rows:
            values = np.random.default_rng(n).integers(-1000, 1000, (n, *trailing), dtype="i4")
            array.append(values)
            reference = np.concatenate([reference, values])
            assert array.shape == reference.shape
        np.testing.assert_array_equal(array[:], reference)
        half = len(reference) // 2
        array.resize((half, *trailing))
        np.testing.assert_array_equal(array[:], reference[:half])
        array.resize((half + 5, *trailing))
        np.testing.assert_array_equal(array[half:], np.zeros((5, *trailing), "i4"))
        transaction.abort()

    @ARRAY_SETTINGS
    @given(
        data=st.data(),
        dtype=ARRAY_DTYPES,
        order=st.sampled_from("CF"),
        trailing=st.sampled_from([(), (3,), (2, 2)]),
        ops=st.lists(
            st.tuples(st.sampled_from(["append", "resize", "commit", "abort"]),
                      st.integers(0, 900)),
            max_size=8,
        ),
    )
    def test_append_and_resize_sequences_match_numpy(self, root, data, dtype, order, trailing,
                                                     ops):
        """Any sequence of appends, resizes (grow: zeros; shrink), commits and aborts along
        the major axis (first for C order, last for F order) matches a numpy model."""
        dtype = np.dtype(dtype)
        major = 0 if order == "C" or not trailing else len(trailing)

        def shape(n):
            return (n, *trailing) if major == 0 else (*trailing, n)

        array = self.new(shape(0), dtype, order=order, blksize=PAGE)
        root["array"] = array
        transaction.commit()
        model = committed = np.zeros(shape(0), dtype)
        for op, n in ops:
            if op == "append":
                size = n * math.prod(trailing) * dtype.itemsize
                raw = data.draw(st.binary(min_size=size, max_size=size))
                values = np.frombuffer(raw, dtype).reshape(shape(n))
                array.append(values)
                model = np.concatenate([model, values], axis=major)
            elif op == "resize":
                array.resize(shape(n))
                kept = np.take(model, range(min(n, model.shape[major])), axis=major)
                grown = np.zeros(shape(n - kept.shape[major]), dtype)
                model = np.concatenate([kept, grown], axis=major)
            elif op == "commit":
                transaction.commit()
                committed = model
            else:
                transaction.abort()
                model = committed
            assert array.shape == model.shape
            # Bitwise, so NaNs made of random bytes compare equal (also inside records).
            # (numpy's concatenate turns the model native-endian: compare in the array's
            # dtype.)
            got, expected = (np.ascontiguousarray(x, dtype).tobytes()
                             for x in (array[...], model))
            assert got == expected
        transaction.abort()

    def test_structured_dtype(self, root, mapping_mode):
        dtype = np.dtype([("t", "<f8"), ("x", "<i2"), ("tag", "S3")])
        array = self.new((100,), dtype, blksize=PAGE)
        root["s"] = array
        values = np.zeros(100, dtype)
        values["t"] = np.arange(100) / 10
        values["x"] = np.arange(100)
        values["tag"] = b"abc"
        array[:] = values
        np.testing.assert_array_equal(array[10:20]["x"], np.arange(10, 20))
        assert array[5]["tag"] == b"abc"
        # numpy reads a tuple as one record, a list of tuples as records
        model = values.copy()
        for target in (array, model):
            target[5] = (7.5, -3, b"xyz")
            target[20:23] = [(1.0, 1, b"a"), (2.0, 2, b"b"), (3.0, 3, b"c")]
            target[30:40] = (9.0, 9, b"n")
        assert array[:].tobytes() == model.tobytes()
        assert array[5]["x"] == -3 and array[21]["tag"] == b"b"

    def test_views_are_lazy_and_readonly(self, root):
        """Before the array is in a connection (added, not committed) views are copies."""
        array = self.new((1 << 20,), "f8", blksize=PAGE)
        root["a"] = array
        view = array[:]
        assert view.shape == (1 << 20,) and not view.flags.writeable
        with pytest.raises(ValueError):
            view[0] = 1.0
        with pytest.raises(ValueError):
            view.setflags(write=True)
        assert view[12345] == 0.0

    def test_persistence_across_restart_and_abort(self, root, database, mapping_mode):
        array, reference = self.filled(root, (5000, 3), blksize=PAGE)
        transaction.commit()
        array[0] = -1
        transaction.abort()
        np.testing.assert_array_equal(array[0], reference[0])
        database.restart()
        connection = database.db.open()
        try:
            again = connection.root()["array"]
            assert (again.shape, again.dtype) == ((5000, 3), np.dtype("f8"))
            np.testing.assert_array_equal(again[:], reference)
        finally:
            connection.close()

    def test_iterblocks_and_dask(self, root):
        array, reference = self.filled(root, (3000, 4), blksize=PAGE)
        runs = list(array.iterblocks())
        assert runs[0][0] == 0 and runs[-1][1] == 3000
        assert all(stop - start == array.rows_per_block() for start, stop, _ in runs[:-1])
        np.testing.assert_array_equal(np.concatenate([v for _, _, v in runs]), reference)
        lazy = array.to_dask()
        assert lazy.chunks[0][0] == array.rows_per_block()
        assert float(lazy.sum().compute()) == float(reference.sum())

    def test_bad_inputs_are_clear(self, root):
        with pytest.raises(BigArrayError, match="-3"):
            self.new((-3,), "f8")
        with pytest.raises(BigArrayError, match="object"):
            self.new((3,), object)
        with pytest.raises(BigArrayError, match="not a numpy dtype"):
            self.new((3,), "no-such-dtype")
        with pytest.raises(BigArrayError, match="'K'"):
            self.new((3,), "f8", order="K")
        array = self.new((4, 3), "f8", blksize=PAGE)
        with pytest.raises(BigArrayError, match=r"\(2, 2\)"):
            array.append(np.zeros((2, 2)))
        with pytest.raises(BigArrayError, match="only axis 0"):
            array.resize((4, 5))
        with pytest.raises(IndexError):
            array[4]
        with pytest.raises(BigArrayError, match="broadcast"):
            array[:2] = np.zeros(5)
        with pytest.raises(BigArrayError, match=r"\(3, -2\)"):
            self.new((3, -2), "f8")
        with pytest.raises(BigArrayError, match="'12'"):
            self.new("12", "f8")  # not (1, 2)
        with pytest.raises(BigArrayError, match="V0|no size"):
            self.new((3,), "V0")
        with pytest.raises(BigArrayError, match=r"\(4, 5\)"):
            array.resize((4, 5))
        with pytest.raises(BigArrayError, match=r"-1"):
            array.resize((-1, 3))

    def test_values_of_a_wrong_dtype_name_it_and_change_nothing(self, root):
        array = self.new((4,), "f8", blksize=PAGE)
        root["a"] = array
        array[:] = [1, 2, 3, 4]
        with pytest.raises(BigArrayError, match=r"<U3.*float64.*'abc'"):
            array[:2] = ["abc", "d"]
        with pytest.raises(BigArrayError, match=r"float64.*'zz'"):
            array.append(np.array(["1.5", "zz"]))
        assert array.shape == (4,)  # a failed append leaves the shape as it was
        with pytest.raises(BigArrayError, match="object"):
            array[:] = [object()] * 4
        np.testing.assert_array_equal(array[:], [1, 2, 3, 4])
        array.append(np.array(["5", "6.5"]))  # what numpy converts, is converted
        np.testing.assert_array_equal(array[4:], [5, 6.5])

    def test_copy_fallback_over_budget_raises_out_of_core(self, root, monkeypatch):
        monkeypatch.setattr(mapping, "mapping_enabled", False)
        array = self.new((1 << 16,), "f8", blksize=PAGE)
        root["big"] = array
        with memory_budget(64 * 1024):
            assert array[:100].shape == (100,)
            with pytest.raises(OutOfCoreError, match="memory budget"):
                array[:]

    def test_advanced_indexing_copies(self, root):
        array, reference = self.filled(root, (50, 2))
        np.testing.assert_array_equal(array[[3, 1, 49]], reference[[3, 1, 49]])
        np.testing.assert_array_equal(array[reference[:, 0] > 90],
                                      reference[reference[:, 0] > 90])
        array[[0, 2]] = -7
        reference[[0, 2]] = -7
        np.testing.assert_array_equal(array[:], reference)

    def test_shape_and_metadata_as_wendelin_core(self, root):
        c_array = self.new((10, 3), "i4")
        assert c_array.strides == np.zeros((10, 3), "i4").strides and len(c_array) == 10
        f_array = self.new((10, 3), "i4", order="F")
        assert f_array.strides == np.zeros((10, 3), "i4", order="F").strides
        assert len(f_array) == 3  # the major axis of a Fortran-ordered array is the last
        assert (c_array.size, c_array.itemsize, c_array.nbytes, c_array.ndim) == (30, 4, 120, 2)
        with pytest.raises(TypeError):
            _ = c_array.data
        for bad in (object, [("x", "f8"), ("o", object)]):
            with pytest.raises(TypeError) as info:
                self.new((3,), bad)
            assert isinstance(info.value, BigArrayError) and isinstance(info.value, BigDataError)
        with pytest.raises(BigArrayError, match="only axis 1"):
            f_array.resize((11, 3))
        f_array.resize((10, 5), refcheck=False)
        assert f_array.shape == (10, 5)

    def test_unattached_arrays_give_read_only_views(self):
        array = self.new((3 * PAGE,), "u1", blksize=PAGE)
        view = array[:]
        assert not view.flags.writeable
        with pytest.raises(ValueError):
            view[0] = 1

    # -- more semantics, each on both backends -------------------------------------------------
    def test_iterblocks_follow_the_major_axis_in_order_f(self, root):
        """In order F the blocks are runs along the last axis, int16 items included."""
        array, reference = self.filled(root, (3, 5, 2000), dtype="<i2", order="F")
        transaction.commit()
        runs = list(array.iterblocks())
        assert [start for start, _, _ in runs] == list(range(0, 2000, array.rows_per_block()))
        assert runs[-1][1] == 2000 and array.rows_per_block() < 2000
        for start, stop, view in runs:
            assert view.shape == (3, 5, stop - start) and view.dtype == np.dtype("<i2")
            np.testing.assert_array_equal(view, reference[..., start:stop])
        assert list(array[...].ravel(order="K")) == list(reference.ravel(order="K"))

    @pytest.mark.parametrize("dtype", ["i1", "<i2", ">i2", ">i4", "<u8", "f2", ">f8", "c16",
                                       "<M8[ns]", ">m8[s]",
                                       [("t", "<i8"), ("v", ">i2"), ("tag", "S3")],
                                       [("when", "<M8[us]"), ("v", "<f4")]])
    def test_every_dtype_survives_a_restart_byte_for_byte(self, root, database, dtype):
        dtype = np.dtype(dtype)
        size = 3 * PAGE // dtype.itemsize + 5  # over several blocks, the last one partly
        raw = np.random.default_rng(7).integers(0, 256, size * dtype.itemsize, np.uint8)
        reference = np.frombuffer(raw.tobytes(), dtype)
        root["typed"] = array = self.new((size,), dtype)
        array[:] = reference
        array[3] = reference[-1]
        array.append(reference[:7])
        expected = np.concatenate([reference, reference[:7]]).astype(dtype)  # native order else
        expected[3] = reference[-1]
        transaction.commit()
        connection = database.restart().open()
        try:
            again = connection.root()["typed"]
            assert again.dtype == dtype and again.shape == (size + 7,)
            assert again[:].tobytes() == expected.tobytes()
        finally:
            connection.close()

    def test_savepoint_rollback_undoes_appends_and_resizes(self, root, database):
        array = self.committed(root, shape=(0, 3), dtype="<i2", blksize=PAGE)
        first = np.arange(3000, dtype="<i2").reshape(1000, 3)
        array.append(first)
        savepoint = transaction.savepoint()
        array.append(np.ones((700, 3), "<i2"))
        array.resize((10, 3))
        assert array.shape == (10, 3)
        savepoint.rollback()
        assert array.shape == (1000, 3)
        np.testing.assert_array_equal(array[:], first)
        transaction.commit()
        connection = database.restart().open()
        try:
            np.testing.assert_array_equal(connection.root()["a"][:], first)
        finally:
            connection.close()

    def test_empty_arrays_index_iterate_and_grow(self, root):
        array = self.committed(root, shape=(0, 3), dtype="f4", blksize=PAGE)
        assert len(array) == 0 and array[:].shape == (0, 3) and list(array.iterblocks()) == []
        assert array[5:9].shape == (0, 3)
        with pytest.raises(IndexError):
            array[0]
        array.append(np.full((2, 3), 1.5, "f4"))
        transaction.commit()
        np.testing.assert_array_equal(array[:], np.full((2, 3), 1.5, "f4"))
        array.resize((0, 3))
        transaction.commit()
        assert array.shape == (0, 3) and array.nbytes == 0

    # -- writable views that join the transaction -----------------------------------------------
    def test_views_are_writable_and_share_memory(self, root):
        BLK = self.live_blksize
        array = self.committed(root, shape=(10 * BLK,))
        reference = np.zeros(10 * BLK, "u1")
        whole, tail = array[:], array[4 * BLK :]
        odd, backwards = array[3 : 9 * BLK : 7], array[9 * BLK + 1 : 4 * BLK - 1 : -1]
        for view, expected in ((whole, reference[:]), (tail, reference[4 * BLK :]),
                               (odd, reference[3 : 9 * BLK : 7]),
                               (backwards, reference[9 * BLK + 1 : 4 * BLK - 1 : -1])):
            assert view.flags.writeable
            assert (view.shape, view.strides, view.dtype) == (
                expected.shape, expected.strides, expected.dtype)
        whole[5 * BLK] = 1
        assert tail[BLK] == 1 and backwards[4 * BLK + 1] == 1
        odd[0] = 3
        assert whole[3] == 3
        backwards[0] = 9
        assert whole[9 * BLK + 1] == 9 and tail[5 * BLK + 1] == 9

    def test_nd_views_match_numpy_layout(self, root):
        array = self.committed(root, shape=(7, 5, 3 * PAGE), dtype="<i4", order="F",
                               blksize=PAGE * 4)
        reference = np.zeros((7, 5, 3 * PAGE), "<i4", order="F")
        for key in [(slice(None),), (1, slice(1, 4)), (Ellipsis, 5),
                    (slice(None, None, -2), 0, 7), (None, 3, Ellipsis, slice(10, 20))]:
            view, expected = array[key], reference[key]
            assert view.flags.writeable
            assert (view.shape, view.strides) == (expected.shape, expected.strides)
        array[2, 3, 100] = 42
        assert array[:][2, 3, 100] == 42

    def test_inplace_idioms_commit(self, root, database):
        BLK = self.live_blksize
        array = self.committed(root, shape=(20 * BLK,), dtype="f8")
        array[:] = np.arange(20 * BLK, dtype="f8")
        transaction.commit()
        array[:] *= 2
        view = array[BLK : 3 * BLK]
        np.multiply(view, 2, out=view)
        segment = array[5 * BLK : 6 * BLK]
        segment[...] = -1
        transaction.commit()
        expected = 2 * np.arange(20 * BLK, dtype="f8")
        expected[BLK : 3 * BLK] *= 2
        expected[5 * BLK : 6 * BLK] = -1
        connection = database.restart().open()
        np.testing.assert_array_equal(connection.root()["a"][:], expected)
        connection.close()

    def test_writes_survive_when_no_view_is_left(self, root, database):
        array = self.committed(root)
        array[:][10] = 5  # the view is gone before the commit
        transaction.commit()
        connection = database.restart().open()
        assert connection.root()["a"][10] == 5
        connection.close()

    def test_abort_reverts_every_view(self, root):
        BLK = self.live_blksize
        array = self.committed(root)
        array[:] = np.arange(40 * BLK) % 251
        transaction.commit()
        reference = np.arange(40 * BLK) % 251
        a, b = array[:], array[10 * BLK : 20 * BLK]
        a[:] = 0
        array[5] = 99
        assert b[0] == 0 and a[5] == 99
        transaction.abort()
        np.testing.assert_array_equal(a, reference)
        np.testing.assert_array_equal(b, reference[10 * BLK : 20 * BLK])
        np.testing.assert_array_equal(array[:], reference)
        # The views stay live after the abort.
        b[1] = 200
        assert a[10 * BLK + 1] == 200
        transaction.commit()
        assert array[10 * BLK + 1] == 200

    def test_setitem_shows_in_existing_views(self, root):
        BLK = self.live_blksize
        array = self.committed(root, shape=(40 * BLK,), dtype="i2")
        whole, part = array[:], array[BLK + 3 : 9 * BLK]
        whole[2 * BLK] = 11  # dirty page in a block the assignment below covers in part
        array[2 * BLK + 1 : 3 * BLK + 2] = 5
        assert whole[2 * BLK] == 11 and (whole[2 * BLK + 1 : 3 * BLK + 2] == 5).all()
        assert part[BLK - 3] == 11 and whole[3 * BLK + 2] == 0
        array[:] = 1  # whole blocks
        assert (part == 1).all() and (whole == 1).all()
        array[::3] = 2  # read-modify-write
        assert part[0] == (2 if (BLK + 3) % 3 == 0 else 1)
        np.testing.assert_array_equal(whole[:12], [2, 1, 1] * 4)
        transaction.commit()
        np.testing.assert_array_equal(array[:12], [2, 1, 1] * 4)

    def test_overlapping_assignment_from_a_view_copies_first(self, root):
        BLK = self.live_blksize
        array = self.committed(root, shape=(8 * BLK,), dtype="u2")
        array[:] = np.arange(8 * BLK) % 1000
        reference = (np.arange(8 * BLK) % 1000).astype("u2")
        array[1:] = array[:-1]
        reference[1:] = reference[:-1].copy()
        np.testing.assert_array_equal(array[:], reference)

    def test_resize_keeps_old_views_shared(self, root):
        array = self.committed(root, shape=(10, 3), dtype="u4", blksize=PAGE)
        array[:, :] = np.arange(30, dtype="u4").reshape(10, 3)
        old = array[:]
        array.resize((11, 3), refcheck=True)
        new = array[:]
        assert new.shape == (11, 3) and (new[10] == 0).all()
        np.testing.assert_array_equal(old, new[:10])
        old[0, 0] = 1
        assert new[0, 0] == 1
        new[9, 2] = 2
        assert old[9, 2] == 2
        with pytest.raises(IndexError):
            old[10, 0]
        array.resize((4, 3))
        np.testing.assert_array_equal(array[:], new[:4])
        transaction.commit()
        assert array.shape == (4, 3) and array[0, 0] == 1

    def test_views_follow_another_connections_commit(self, database) -> None:
        """A view held here shows what another connection (thread) committed, from this
        connection's next transaction boundary on; never in the middle of a transaction."""
        BLK = self.live_blksize
        setup = database.db.open()
        setup.root()["a"] = self.new((30 * BLK,), "u1", blksize=BLK)
        setup.root()["a"][:] = 1
        transaction.commit()
        setup.close()

        steps = {name: threading.Event() for name in ("viewing", "committed", "checked")}
        seen: dict[str, object] = {}

        def here() -> None:
            manager = transaction.TransactionManager()
            connection = database.db.open(manager)
            try:
                array = connection.root()["a"]
                view, tail = array[:], array[20 * BLK :]
                steps["viewing"].set()
                steps["committed"].wait(30)
                seen["before"] = (int(view[5]), int(view[25 * BLK]))
                manager.abort()  # a transaction boundary
                seen["after"] = (int(view[5]), int(view[BLK]), int(tail[5 * BLK]), array.shape)
                grown = array[:]
                seen["grown"] = (grown.shape, int(grown[-1]))
                view[6] = 9  # still live for writing
                manager.commit()
            finally:
                connection.close()
                steps["checked"].set()

        def there() -> None:
            manager = transaction.TransactionManager()
            steps["viewing"].wait(30)
            connection = database.db.open(manager)
            try:
                array = connection.root()["a"]
                array[5] = 2  # one changed block
                other = array[:]
                other[25 * BLK] = 3  # a write through a view over there
                array.append(np.full(BLK, 4, "u1"))
                manager.commit()
            finally:
                connection.close()
                steps["committed"].set()

        threads = [threading.Thread(target=here), threading.Thread(target=there)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert seen["before"] == (1, 1)
        assert seen["after"] == (2, 1, 3, (31 * BLK,))
        assert seen["grown"] == ((31 * BLK,), 4)
        check = database.db.open()
        assert check.root()["a"][6] == 9 and check.root()["a"][5] == 2
        check.close()


class WendelinCoreConformance(StorageFixtures):
    """What wendelin.core's ZODB tests check (``bigarray/tests/test_arrayzodb.py``,
    ``bigfile/tests/test_filezodb.py``), written against the names code for wendelin.core
    imports: subclass and set ``array_type`` (``wendelin.bigarray.array_zodb.ZBigArray``),
    ``file_type`` (``wendelin.bigfile.file_zodb.ZBigFile``) and ``array_base``
    (``wendelin.bigarray.BigArray``). Its C virtual memory, file handles and block formats
    have no counterpart."""

    array_type: Any = None
    file_type: Any = None
    array_base: Any = None
    BLK = 4 * PAGE  # page-sized blocks: live views

    @staticmethod
    def other(database):
        """A second connection with its own transaction manager (another client's view)."""
        manager = transaction.TransactionManager()
        return manager, database.db.open(transaction_manager=manager)

    def test_zbigarray_persists_modifications_appends_and_resizes(self, root, database):
        BLK = self.BLK
        root["zarray"] = A = self.array_type((16 * BLK,), np.uint8, blksize=BLK)
        transaction.commit()
        a = A[:]
        assert a.dtype == np.uint8 and a.shape == (16 * BLK,) and not a.any()
        a[0:1] = 1
        a[-1:] = 0xFF
        A[5 * BLK : 6 * BLK] = 7
        transaction.commit()
        del a
        connection = database.restart().open()
        A = connection.root()["zarray"]
        a = A[:]
        assert (a[0], a[1], a[-1]) == (1, 0, 0xFF) and (a[5 * BLK : 6 * BLK] == 7).all()
        A.append(np.arange(10, dtype=np.uint8))
        transaction.commit()
        assert A.shape == (16 * BLK + 10,) and len(A) == 16 * BLK + 10
        assert A[-10:].tolist() == list(range(10))
        A.resize((2 * BLK,))
        transaction.commit()
        assert A.shape == (2 * BLK,) and A[0] == 1
        assert isinstance(A, self.array_base)  # the names are the same class
        connection.close()

    def test_zbigarray_order_and_layout_survive_reopening(self, root, database):
        BLK = self.BLK
        root["f"] = A = self.array_type((3, 2 * BLK), np.int16, order="F", blksize=BLK)
        transaction.commit()
        data = np.arange(6 * BLK, dtype=np.int16).reshape(3, 2 * BLK)
        A[...] = data
        transaction.commit()
        connection = database.restart().open()
        A = connection.root()["f"]
        assert A.order == "F" and len(A) == 2 * BLK  # major axis is the last one
        a = A[...]
        assert a.flags.f_contiguous
        np.testing.assert_array_equal(a, data)
        connection.close()

    def test_another_connection_sees_shape_and_data_at_its_next_transaction(self, root,
                                                                             database):
        BLK = self.BLK
        root["zarray"] = A = self.array_type((4 * BLK,), np.uint8, blksize=BLK)
        transaction.commit()
        manager, connection = self.other(database)
        B = connection.root()["zarray"]
        b = B[:]
        assert not b.any()
        A[:BLK] = 3
        A.append(np.full(BLK, 9, np.uint8))
        transaction.commit()
        assert b[0] == 0 and B.shape == (4 * BLK,)  # not yet: same transaction over there
        manager.begin()
        assert b[0] == 3 and B.shape == (5 * BLK,)  # the view and the shape follow
        assert (B[4 * BLK :] == 9).all()
        manager.abort()
        connection.close()

    def test_concurrent_writes_to_the_same_block_conflict(self, root, database):
        BLK = self.BLK
        root["zarray"] = self.array_type((4 * BLK,), np.uint8, blksize=BLK)
        transaction.commit()
        manager, connection = self.other(database)
        mine, theirs = root["zarray"][:], connection.root()["zarray"][:]
        mine[10] = 1
        theirs[20] = 2
        transaction.commit()
        with pytest.raises(ConflictError):
            manager.commit()
        manager.abort()
        assert theirs[20] == 0 and theirs[10] == 1  # aborted: back to the committed data
        connection.close()

    def test_zbigfile_reads_writes_and_invalidation(self, root, database):
        BLK = self.BLK
        root["zfile"] = f = self.file_type(blksize=BLK)
        f.write(0, b"hello")
        f.write(3 * BLK - 2, b"world")  # across a block boundary
        transaction.commit()
        manager, connection = self.other(database)
        g = connection.root()["zfile"]
        assert g.read(0, 5) == b"hello" and g.read(3 * BLK - 2, 5) == b"world"
        assert g.read(5, 10) == bytes(10)  # holes read as zeros
        f.write(0, b"HELLO")
        transaction.commit()
        assert g.read(0, 5) == b"hello"
        manager.begin()
        assert g.read(0, 5) == b"HELLO" and g.size == f.size == 3 * BLK + 3
        manager.abort()
        connection.close()

    def test_zbigfile_abort_and_conflicts(self, root, database):
        BLK = self.BLK
        root["zfile"] = f = self.file_type(blksize=BLK)
        f.write(0, bytes(2 * BLK))
        transaction.commit()
        f.write(0, b"lost")
        transaction.abort()
        assert f.read(0, 4) == bytes(4)
        manager, connection = self.other(database)
        g = connection.root()["zfile"]
        f.write(1, b"a")
        g.write(2, b"b")
        transaction.commit()
        with pytest.raises(ConflictError):
            manager.commit()
        manager.abort()
        connection.close()

    def test_arrays_follow_connections_that_migrate_between_threads(self, database) -> None:
        """A connection closed in one thread and reopened from the pool in another keeps
        giving correct, writable views (wendelin.core's connection-migration test)."""
        BLK, array_type = self.BLK, self.array_type
        errors: list[BaseException] = []

        def run(step):
            try:
                manager = transaction.TransactionManager()
                connection = database.db.open(transaction_manager=manager)
                step(connection.root(), manager)
                connection.close()
            except BaseException as exc:  # noqa: BLE001 - reported to the test's thread
                errors.append(exc)

        def first(root, manager):
            root["zarray"] = array_type((2 * BLK,), np.uint8, blksize=BLK)
            manager.commit()
            root["zarray"][:] += 1
            manager.commit()

        def second(root, manager):
            a = root["zarray"][:]
            assert (a == 1).all()
            a[:] *= 5
            manager.commit()

        for step in (first, second):
            thread = threading.Thread(target=run, args=(step,))
            thread.start()
            thread.join()
            assert not errors, errors
        connection = database.db.open()
        assert (connection.root()["zarray"][:] == 5).all()
        connection.close()

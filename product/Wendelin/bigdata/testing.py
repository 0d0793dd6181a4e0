"""The storage core's conformance suite, shipped with it (as ``zarr.testing`` is with zarr).

Subclass :class:`BigFileConformance` and define ``make(root)`` to run the BigFile
contract against an implementation: every test runs on a real ZODB twice, over a
FileStorage with a blob directory and over a real ZEO server on 127.0.0.1 whose client
keeps its own (non-shared) blob cache. Needs pytest and hypothesis (the ``test`` extra).
"""

from __future__ import annotations

import numpy as np
import pytest
import transaction
import ZEO
import ZODB
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ZEO.ClientStorage import ClientStorage
from ZODB.FileStorage import FileStorage

from .budget import memory_budget
from .errors import BigFileError, OutOfCoreError


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


class BigFileConformance:
    """Subclass and define ``make`` to run the contract against another BigFile."""

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

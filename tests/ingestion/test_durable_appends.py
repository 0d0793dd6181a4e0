"""Appends are durable when their commit returns: each blob file an append wrote is
``fdatasync``ed once, before the storage fsyncs Data.fs (ZODB never syncs blob files).

Real storages: a FileStorage with blobs, and a ZEO server whose client shares its blob
directory (as ``wendelin run`` serves its own process). The system calls are recorded on
their way to the real ones, to count them and see their order.
"""

from __future__ import annotations

import importlib
import os

import pytest
import transaction
import ZEO
import ZODB
from Products.Wendelin.bigdata.bigfile import ZBigFile, _blob_file
from ZEO.ClientStorage import ClientStorage
from ZODB.FileStorage import FileStorage

BLKSIZE = 4096
# the module, not the class ZODB.FileStorage exports under the same name
filestorage_module = importlib.import_module("ZODB.FileStorage.FileStorage")


@pytest.fixture(params=["filestorage", "zeo-shared-blobs"])
def db(tmp_path, request):
    """A database over Data.fs and blobs in ``tmp_path``, directly or through ZEO."""
    stop = None
    if request.param == "filestorage":
        storage = FileStorage(str(tmp_path / "Data.fs"), blob_dir=str(tmp_path / "blobs"))
    else:
        address, stop = ZEO.server(path=str(tmp_path / "Data.fs"), blob_dir=str(tmp_path / "blobs"))
        storage = ClientStorage(address, blob_dir=str(tmp_path / "blobs"), shared_blob_dir=True,
                                wait_timeout=30)
    database = ZODB.DB(storage)
    yield database
    transaction.abort()
    database.close()
    if stop is not None:
        stop()


@pytest.fixture
def syncs(monkeypatch):
    """``(call, inode)`` of every fdatasync, and of FileStorage's fsync, in order."""
    calls: list[tuple[str, int]] = []
    real_fdatasync, real_fsync = os.fdatasync, filestorage_module.fsync

    def fdatasync(fd: int) -> None:
        calls.append(("fdatasync", os.fstat(fd).st_ino))
        real_fdatasync(fd)

    def fsync(fd: int) -> None:
        calls.append(("fsync", os.fstat(fd).st_ino))
        real_fsync(fd)

    monkeypatch.setattr(os, "fdatasync", fdatasync)
    monkeypatch.setattr(filestorage_module, "fsync", fsync)
    return calls


def _new_file(db) -> tuple[object, ZBigFile]:
    connection = db.open()
    connection.root()["f"] = ZBigFile(blksize=BLKSIZE)
    transaction.commit()
    return connection, connection.root()["f"]


def _run_inodes(bigfile: ZBigFile) -> list[int]:
    """Inodes of the committed files of the file's tail runs, in order."""
    return [os.stat(_blob_file(blob)[0]).st_ino for blob, _start, _length in bigfile._tail]


def test_each_appended_file_is_synced_once_before_data_fs(db, tmp_path, syncs) -> None:
    _, bigfile = _new_file(db)
    data_fs = os.stat(tmp_path / "Data.fs").st_ino
    del syncs[:]
    bigfile.append(b"a" * 5000)  # a new run
    bigfile.append(b"b" * 100)  # the same run, extended in place
    transaction.commit()
    first = _run_inodes(bigfile)
    assert syncs == [("fdatasync", first[0]), ("fsync", data_fs)]
    del syncs[:]
    bigfile.append(b"c" * 10)  # a new run starting with a copy of the partial block
    transaction.commit()
    assert syncs == [("fdatasync", _run_inodes(bigfile)[1]), ("fsync", data_fs)]
    expected = b"a" * 5000 + b"b" * 100 + b"c" * 10
    assert bigfile.read(0, bigfile.size) == expected
    assert _mapped(bigfile, 1) == expected[BLKSIZE:]  # the head was copied into the run


def _mapped(bigfile: ZBigFile, index: int) -> bytes:
    """The bytes a mapping of block ``index`` shows (the last file block_files names for
    it: a later run's copy of a partial block replaces the earlier run's)."""
    *_, (_, path, offset, length) = bigfile.block_files(index, index)
    with open(path, "rb") as stored:
        stored.seek(offset)
        return stored.read(length)


def test_a_failed_sync_fails_the_commit_and_stores_nothing(db, monkeypatch) -> None:
    connection, bigfile = _new_file(db)
    bigfile.append(b"kept")
    transaction.commit()

    def failing(fd: int) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "fdatasync", failing)
    bigfile.append(b" lost")
    with pytest.raises(OSError, match="Input/output"):
        transaction.commit()
    transaction.abort()
    monkeypatch.undo()
    other = db.open(transaction_manager=transaction.TransactionManager())
    assert other.root()["f"].read(0, 100) == b"kept"
    other.close()
    assert connection.root()["f"].read(0, 100) == b"kept"


def _blob_descriptors(blobs: str) -> set[tuple[str, str]]:
    """(descriptor, file) of this process's open files under ``blobs``: only those, as
    the ZEO server's thread opens and closes its own files (Data.fs's) at any time."""
    found = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:  # closed meanwhile (listdir's own descriptor, for one)
            continue
        if target.startswith(blobs + os.sep):
            found.add((fd, target))
    return found


def test_abort_syncs_nothing_and_closes_its_files(db, syncs, tmp_path) -> None:
    _, bigfile = _new_file(db)
    blobs = str(tmp_path / "blobs")
    open_before = _blob_descriptors(blobs)
    del syncs[:]
    bigfile.append(b"x" * 10_000)
    bigfile.append(b"y")
    assert _blob_descriptors(blobs) - open_before  # kept for the commit's sync
    transaction.abort()
    assert syncs == []
    assert _blob_descriptors(blobs) - open_before == set()


def test_savepoints_keep_appends_durable(db, syncs) -> None:
    _, bigfile = _new_file(db)
    del syncs[:]
    bigfile.append(b"1" * 3000)
    savepoint = transaction.savepoint()
    bigfile.append(b"2" * 3000)
    savepoint.rollback()
    bigfile.append(b"3" * 3000)
    transaction.commit()
    assert bigfile.read(0, bigfile.size) == b"1" * 3000 + b"3" * 3000
    synced = {inode for call, inode in syncs if call == "fdatasync"}
    assert set(_run_inodes(bigfile)) <= synced


def test_a_zeo_blob_cache_is_not_synced(tmp_path, syncs) -> None:
    """A client with its own blob cache sends the bytes to the server: its copy is not
    what the server stores, so it is not synced (the server's Data.fs still is)."""
    address, stop = ZEO.server(path=str(tmp_path / "Data.fs"), blob_dir=str(tmp_path / "blobs"))
    database = ZODB.DB(ClientStorage(address, blob_dir=str(tmp_path / "cache"),
                                     shared_blob_dir=False, wait_timeout=30))
    try:
        _, bigfile = _new_file(database)
        del syncs[:]
        bigfile.append(b"z" * 5000)
        transaction.commit()
        assert [call for call, _ in syncs] == ["fsync"]
        assert bigfile.read(0, 5000) == b"z" * 5000
    finally:
        transaction.abort()
        database.close()
        stop()


def test_a_run_after_a_hole_starts_with_zeros(db) -> None:
    """The copied head of a new run may be a hole (a file grown by truncate)."""
    _, bigfile = _new_file(db)
    bigfile.append(b"a" * 10)
    transaction.commit()
    bigfile.truncate(BLKSIZE + 50)  # block 1 is a hole
    transaction.commit()
    bigfile.append(b"tail")
    transaction.commit()
    expected = b"a" * 10 + bytes(BLKSIZE + 40) + b"tail"
    assert bigfile.read(0, bigfile.size) == expected
    assert bigfile.mappable()
    assert _mapped(bigfile, 1) == bytes(50) + b"tail"


def test_a_conflict_after_the_sync_started_closes_its_files(db, tmp_path) -> None:
    """A commit that fails after the sync began (a conflict at vote) waits for the sync,
    then closes every descriptor it kept."""
    from persistent.mapping import PersistentMapping
    from ZODB.POSException import ConflictError

    connection, bigfile = _new_file(db)
    connection.root()["other"] = PersistentMapping()
    transaction.commit()
    manager = transaction.TransactionManager()
    rival = db.open(transaction_manager=manager)
    rival.root()["other"]["n"] = 1
    blobs = str(tmp_path / "blobs")
    open_before = _blob_descriptors(blobs)
    bigfile.append(b"q" * 9000)
    assert _blob_descriptors(blobs) - open_before  # the append keeps its file open...
    connection.root()["other"]["n"] = 2
    manager.commit()  # commits first: ours conflicts on "other"
    with pytest.raises(ConflictError):
        transaction.commit()
    transaction.abort()
    assert _blob_descriptors(blobs) - open_before == set()  # ...until the commit ended
    assert bigfile.size == 0
    rival.close()


class _AppendsWhileCommitting:
    """A data manager whose commit phase appends (after the transaction stopped taking
    new resources): that append's file is synced at once."""

    def __init__(self, bigfile: ZBigFile) -> None:
        self.bigfile = bigfile

    def sortKey(self) -> str:  # noqa: N802  (transaction's interface)
        return "!appends-while-committing"  # before the ZODB connection's commit

    def commit(self, txn) -> None:
        self.bigfile.append(b"late" * 1000)

    def tpc_begin(self, txn) -> None:
        pass

    def tpc_vote(self, txn) -> None:
        pass

    def tpc_finish(self, txn) -> None:
        pass

    def tpc_abort(self, txn) -> None:
        pass

    def abort(self, txn) -> None:
        pass


def test_an_append_made_while_committing_is_synced_at_once(db, syncs) -> None:
    _, bigfile = _new_file(db)
    del syncs[:]
    bigfile.append(b"early")  # the connection has joined; so has the sync manager
    transaction.get().join(_AppendsWhileCommitting(bigfile))
    bigfile._p_jar.root()["touched"] = 1
    transaction.commit()
    [run] = _run_inodes(bigfile)  # "late" extended the run in place
    synced = [inode for call, inode in syncs if call == "fdatasync"]
    assert synced == [run, run]  # by the commit's sync, then again after the late bytes
    assert bigfile.read(0, bigfile.size) == b"early" + b"late" * 1000


def test_an_adopted_file_is_synced_before_data_fs(db, tmp_path, syncs) -> None:
    """Uploads (PUT and multipart bodies) adopt their spooled file as a blob: it is as
    durable at commit as appended bytes are."""
    _, bigfile = _new_file(db)
    data_fs = os.stat(tmp_path / "Data.fs").st_ino
    body = tmp_path / "body"
    body.write_bytes(b"u" * 70000)
    del syncs[:]
    bigfile.append_file(str(body), 70000)
    transaction.commit()
    assert syncs == [("fdatasync", _run_inodes(bigfile)[0]), ("fsync", data_fs)]
    assert bigfile.read(0, bigfile.size) == b"u" * 70000

"""Code written for wendelin.core runs unchanged: the behaviours its ZODB tests check
(``bigarray/tests/test_arrayzodb.py``, ``bigfile/tests/test_filezodb.py``), written here
against the shim import paths only. Tests of its C virtual memory, file handles and block
formats have no counterpart. Every test runs on FileStorage and ZEO (conftest.py)."""

import mmap
import threading

import numpy as np
import pytest
import transaction
from wendelin.bigarray import BigArray
from wendelin.bigarray.array_zodb import ZBigArray
from wendelin.bigfile.file_zodb import ZBigFile
from ZODB.POSException import ConflictError

BLK = 4 * mmap.PAGESIZE  # page-sized blocks: live views


def _other(database):
    """A second connection with its own transaction manager (another client's view)."""
    manager = transaction.TransactionManager()
    return manager, database.db.open(transaction_manager=manager)


def test_zbigarray_persists_modifications_appends_and_resizes(root, database):
    root["zarray"] = A = ZBigArray((16 * BLK,), np.uint8, blksize=BLK)
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
    assert isinstance(A, BigArray)  # the names are the same class
    connection.close()


def test_zbigarray_order_and_layout_survive_reopening(root, database):
    root["f"] = A = ZBigArray((3, 2 * BLK), np.int16, order="F", blksize=BLK)
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


def test_another_connection_sees_shape_and_data_at_its_next_transaction(root, database):
    root["zarray"] = A = ZBigArray((4 * BLK,), np.uint8, blksize=BLK)
    transaction.commit()
    manager, connection = _other(database)
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


def test_concurrent_writes_to_the_same_block_conflict(root, database):
    root["zarray"] = ZBigArray((4 * BLK,), np.uint8, blksize=BLK)
    transaction.commit()
    manager, connection = _other(database)
    mine, theirs = root["zarray"][:], connection.root()["zarray"][:]
    mine[10] = 1
    theirs[20] = 2
    transaction.commit()
    with pytest.raises(ConflictError):
        manager.commit()
    manager.abort()
    assert theirs[20] == 0 and theirs[10] == 1  # aborted: back to the committed data
    connection.close()


def test_zbigfile_reads_writes_and_invalidation(root, database):
    root["zfile"] = f = ZBigFile(blksize=BLK)
    f.write(0, b"hello")
    f.write(3 * BLK - 2, b"world")  # across a block boundary
    transaction.commit()
    manager, connection = _other(database)
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


def test_zbigfile_abort_and_conflicts(root, database):
    root["zfile"] = f = ZBigFile(blksize=BLK)
    f.write(0, bytes(2 * BLK))
    transaction.commit()
    f.write(0, b"lost")
    transaction.abort()
    assert f.read(0, 4) == bytes(4)
    manager, connection = _other(database)
    g = connection.root()["zfile"]
    f.write(1, b"a")
    g.write(2, b"b")
    transaction.commit()
    with pytest.raises(ConflictError):
        manager.commit()
    manager.abort()
    connection.close()


def test_arrays_follow_connections_that_migrate_between_threads(database):
    """A connection closed in one thread and reopened from the pool in another keeps
    giving correct, writable views (wendelin.core's connection-migration test)."""
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
        root["zarray"] = ZBigArray((2 * BLK,), np.uint8, blksize=BLK)
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

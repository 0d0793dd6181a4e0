"""serialise_transaction without a wait needs no storage sync (a ZEO round trip per
post), yet its fresh transaction sees what another thread committed meanwhile.

Real ZODB (FileStorage) and real threads; the connection's forced syncs are counted on
their way to the real method.
"""

from __future__ import annotations

import threading

import pytest
import transaction
import ZODB
from Products.Wendelin.locks import keyed_lock, serialise_transaction
from ZODB.FileStorage import FileStorage


@pytest.fixture
def connection(tmp_path):
    """A connection of the thread's default transaction manager (as in a request),
    whose forced storage syncs are counted in ``connection.forced``."""
    db = ZODB.DB(FileStorage(str(tmp_path / "Data.fs")))
    connection = db.open()
    connection.root()["n"] = 0
    transaction.commit()
    storage = connection._storage
    real_sync = storage.sync
    connection.forced = []

    def sync(force: bool = True) -> None:
        if force:
            connection.forced.append(True)
        real_sync(force)

    storage.sync = sync
    yield connection
    transaction.abort()
    connection.close()
    db.close()


def _commit_elsewhere(db, value: int) -> None:
    """Set ``n`` in another thread's transaction and commit it."""

    def run() -> None:
        other = db.open()
        other.root()["n"] = value
        transaction.commit()
        other.close()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()


def test_uncontended_sees_a_later_commit_without_a_sync(connection) -> None:
    transaction.begin()
    assert connection.root()["n"] == 0  # this transaction's snapshot
    _commit_elsewhere(connection.db(), 1)
    del connection.forced[:]
    assert serialise_transaction(("test", "uncontended")) is False
    assert connection.root()["n"] == 1
    assert connection.forced == []
    connection.root()["n"] = 2
    transaction.commit()  # no conflict with the other thread's commit
    assert not keyed_lock(("test", "uncontended")).locked()


def test_after_a_wait_it_sees_the_holder_commit(connection) -> None:
    """The holder commits while this thread waits for the key: its change is seen."""
    key = ("test", "contended")
    held, release = threading.Event(), threading.Event()
    db = connection.db()

    def holder() -> None:
        other = db.open()
        serialise_transaction(key)
        held.set()
        release.wait()
        other.root()["n"] = 5
        transaction.commit()
        other.close()

    thread = threading.Thread(target=holder)
    thread.start()
    held.wait()
    transaction.begin()
    assert connection.root()["n"] == 0
    release.set()
    del connection.forced[:]
    waited = serialise_transaction(key)
    thread.join()
    assert connection.root()["n"] == 5
    assert connection.forced == ([True] if waited else [])
    connection.root()["n"] = 6
    transaction.commit()

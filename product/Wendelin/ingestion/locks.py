"""Locks held until the end of the current transaction (commit or abort).

Appends to one Data Stream from two threads of one process would conflict in ZODB; a
lock per stream, released only when the transaction that appended is finished, makes
them wait for each other instead. Across processes ZODB's conflict detection and the
publisher's retries remain the arbiter.
"""

from __future__ import annotations

import threading
import weakref
from typing import Any

import transaction

_locks: weakref.WeakValueDictionary[Any, threading.Lock] = weakref.WeakValueDictionary()
_guard = threading.Lock()


class _ReleaseAtEnd:
    """A resource manager whose only job is to release a lock when the transaction ends."""

    def __init__(self, lock: threading.Lock) -> None:
        self.lock = lock
        self.released = False

    def _release(self, *args: Any) -> None:
        if not self.released:
            self.released = True
            self.lock.release()

    def sortKey(self) -> str:  # noqa: N802  (transaction's interface)
        return "~wendelin-lock-release"

    abort = tpc_finish = tpc_abort = _release

    def tpc_begin(self, txn: Any) -> None:
        pass

    def commit(self, txn: Any) -> None:
        pass

    def tpc_vote(self, txn: Any) -> None:
        pass

    def savepoint(self) -> _Unchanged:
        """Savepoints of the transaction roll back fine: this manager holds no data."""
        return _Unchanged()


class _Unchanged:
    """The savepoint of a resource manager without data."""

    def rollback(self) -> None:
        pass


def serialise_transaction(key: Any) -> bool:
    """Wait for other transactions holding ``key``, then start a fresh one holding it.

    Call it before changing anything in the request: the current transaction is aborted
    and a new one begun, so it sees what the previous holder committed (no conflict).
    The lock is released when that new transaction commits or aborts. Returns whether
    this call had to wait.
    """
    with _guard:
        lock = _locks.get(key)
        if lock is None:
            lock = _locks[key] = threading.Lock()
    waited = not lock.acquire(blocking=False)
    if waited:
        lock.acquire()
    try:
        transaction.abort()
        transaction.begin()
        transaction.get().join(_ReleaseAtEnd(lock))
    except BaseException:
        lock.release()
        raise
    return waited

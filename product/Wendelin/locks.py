"""Locks per key for this process, and locks held until the end of a transaction.

Notebook cells of one notebook and appends to one Data Stream must not run side by
side in one process. :func:`keyed_lock` gives the lock of a key (kept while in use);
:func:`serialise_transaction` holds one until the current transaction commits or
aborts. Across processes ZODB's conflict detection and the publisher's retries remain
the arbiter. :func:`serialise_transaction` starts a fresh transaction, so it must come
before the request changes anything: it refuses (:class:`TransactionNotFreshError`)
rather than silently throw away earlier changes, and a doomed transaction (a GET)
stays doomed.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from typing import Any

import transaction

_locks: weakref.WeakValueDictionary[Any, Any] = weakref.WeakValueDictionary()
_guard = threading.Lock()


def keyed_lock(key: Any, factory: Callable[[], Any] = threading.Lock) -> Any:
    """The lock of ``key`` in this process, made by ``factory`` when nobody holds one."""
    with _guard:
        lock = _locks.get(key)
        if lock is None:
            lock = _locks[key] = factory()
        return lock


class TransactionNotFreshError(RuntimeError):
    """``serialise_transaction`` was called after the transaction changed something."""


def pending_work(txn: Any) -> list[str]:
    """What the transaction would commit: joined data managers and registered hooks.

    A ZODB connection joins the transaction when a first object is modified, so an
    empty list means aborting loses nothing.
    """
    # ``_resources`` is the transaction's list of joined data managers (no public accessor)
    work = [repr(manager) for manager in getattr(txn, "_resources", ())]
    work += [f"before-commit hook {hook!r}" for hook, _a, _k in txn.getBeforeCommitHooks()]
    work += [f"after-commit hook {hook!r}" for hook, _a, _k in txn.getAfterCommitHooks()]
    return work


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

    Call it before changing anything in the request: the current transaction, which must
    hold no changes (else :class:`TransactionNotFreshError`, nothing lost), is replaced by
    a new one that sees what the previous holder committed (no conflict). Only after a
    wait does it sync with the storage server (a round trip on ZEO): uncontended, the
    request's own begin already did. A doomed transaction's successor is doomed too. The
    lock is released when the new transaction commits or aborts. Returns whether this
    call had to wait.
    """
    current = transaction.get()
    work = pending_work(current)
    if work:
        raise TransactionNotFreshError(
            f"serialise_transaction({key!r}) would abort changes made before it: "
            + ", ".join(work[:5])
        )
    doomed = current.isDoomed()
    lock = keyed_lock(key)
    waited = not lock.acquire(blocking=False)
    if waited:
        lock.acquire()
    try:
        manager = transaction.manager
        # Aborting polls the invalidations this process's commits left (the previous
        # holder's included, which end before its lock is released): no server round trip.
        transaction.abort()
        if waited or manager.explicit:
            # After a wait, also ask the server for other processes' commits (fewer
            # conflicts later); an explicit manager needs begin() anyway.
            fresh = transaction.begin()
        else:
            fresh = manager.get()
        if doomed:
            fresh.doom()
        fresh.join(_ReleaseAtEnd(lock))
    except BaseException:
        lock.release()
        raise
    return waited

"""locks.serialise_transaction: a fresh transaction, never at the cost of earlier changes."""

from __future__ import annotations

import pytest
import transaction
from Products.Wendelin.locks import TransactionNotFreshError, keyed_lock, serialise_transaction


def test_refuses_to_abort_changes_made_before_it(portal):
    """Earlier changes are kept (not silently aborted) and the caller is told why."""
    portal.manage_changeProperties(title="changed before serialise")
    with pytest.raises(TransactionNotFreshError, match="would abort changes"):
        serialise_transaction(("test", "changed"))
    assert portal.title == "changed before serialise"
    assert not keyed_lock(("test", "changed")).locked()
    transaction.abort()


def test_refuses_when_a_before_commit_hook_is_registered(portal):
    transaction.get().addBeforeCommitHook(lambda: None)
    with pytest.raises(TransactionNotFreshError, match="before-commit hook"):
        serialise_transaction(("test", "hook"))
    transaction.abort()


def test_fresh_transaction_holds_the_lock_until_it_ends(portal):
    assert serialise_transaction(("test", "fresh")) is False
    lock = keyed_lock(("test", "fresh"))
    assert lock.locked()
    portal.manage_changeProperties(title="after serialise")
    transaction.abort()
    assert not lock.locked()


def test_a_doomed_transaction_stays_doomed(portal):
    """A GET's doomed transaction cannot be swapped for a committable one."""
    transaction.get().doom()
    serialise_transaction(("test", "doomed"))
    assert transaction.get().isDoomed()
    with pytest.raises(transaction.interfaces.DoomedTransaction):
        transaction.commit()
    transaction.abort()
    assert not keyed_lock(("test", "doomed")).locked()

"""The bounded record of request ids that makes a replayed ingestion post a no-op."""

from __future__ import annotations

import transaction
import ZODB
from Products.Wendelin.ingestion.replay import AppliedRequests


def test_ids_are_remembered_up_to_the_limit_oldest_forgotten_first():
    applied = AppliedRequests(limit=3)
    for request_id in ("a", "b", "c", "d"):
        applied.add(request_id)
    assert len(applied) == 3
    assert "a" not in applied and all(i in applied for i in "bcd")
    applied.add("c")  # already there: nothing changes, nothing is forgotten
    assert len(applied) == 3 and "b" in applied
    applied.add("e")
    assert "b" not in applied and [i in applied for i in "cde"] == [True] * 3


def test_the_record_commits_and_aborts_with_its_transaction():
    """Stored in ZODB, an id added by an aborted transaction is not remembered."""
    db = ZODB.DB(None)
    try:
        manager = transaction.TransactionManager()
        connection = db.open(manager)
        connection.root()["applied"] = AppliedRequests(limit=100)
        connection.root()["applied"].add("kept")
        manager.commit()
        connection.root()["applied"].add("lost")
        manager.abort()
        other = db.open(transaction.TransactionManager())
        assert "kept" in other.root()["applied"] and "lost" not in other.root()["applied"]
        assert len(other.root()["applied"]) == 1
    finally:
        db.close()

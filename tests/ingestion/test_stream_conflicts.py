"""Data Stream's conflict resolution: concurrent appends merge, a stale catalog refresh does not.

Real states through ZODB: two connections on one FileStorage change the same stream and
commit one after the other; the second commit is resolved by ``_p_resolveConflict``.
"""

from __future__ import annotations

import pytest
import transaction
import ZODB
from DateTime import DateTime
from Products.Wendelin.document.stream import DataStream
from ZODB.FileStorage import FileStorage
from ZODB.POSException import ConflictError


@pytest.fixture
def two_views(tmp_path):
    """The same stored stream seen by two connections with their own transactions."""
    db = ZODB.DB(FileStorage(str(tmp_path / "Data.fs"), blob_dir=str(tmp_path / "blobs")))
    managers = [transaction.TransactionManager(), transaction.TransactionManager()]
    first = db.open(transaction_manager=managers[0])
    first.root()["stream"] = DataStream("1", reference="s")
    managers[0].commit()
    second = db.open(transaction_manager=managers[1])
    yield [(first.root()["stream"], managers[0]), (second.root()["stream"], managers[1])]
    for manager in managers:
        manager.abort()
    db.close()


def test_concurrent_dates_merge_to_the_later_one(two_views):
    (one, one_tm), (two, two_tm) = two_views
    one.modification_date = DateTime("2030/01/01 00:00:02 UTC")
    two.modification_date = DateTime("2030/01/01 00:00:01 UTC")
    two.content_type = "text/csv"  # another attribute, changed by one side only
    one_tm.commit()
    two_tm.commit()  # resolved, not a ConflictError
    one_tm.begin()
    assert one.modification_date == DateTime("2030/01/01 00:00:02 UTC")
    assert one.content_type == "text/csv"


def test_one_attribute_changed_by_both_still_conflicts(two_views):
    (one, one_tm), (two, two_tm) = two_views
    one.title, two.title = "a", "b"
    one_tm.commit()
    with pytest.raises(ConflictError):
        two_tm.commit()


@pytest.mark.parametrize("refresh_first", [True, False])
def test_a_catalog_refresh_that_missed_an_append_conflicts(two_views, refresh_first):
    """The refresh clears the pending flag; an append it did not see moved the date."""
    (one, one_tm), (two, two_tm) = two_views
    one._catalog_pending = True
    one_tm.commit()
    two_tm.begin()
    assert two._catalog_pending
    refresh, refresh_tm, append, append_tm = (one, one_tm, two, two_tm) if refresh_first \
        else (two, two_tm, one, one_tm)
    refresh._catalog_pending = False
    append.modification_date = DateTime()
    refresh_tm.commit()
    with pytest.raises(ConflictError):
        append_tm.commit()


def test_two_appends_that_both_queue_a_refresh_merge(two_views):
    (one, one_tm), (two, two_tm) = two_views
    for stream in (one, two):
        stream._catalog_pending = True
        stream.modification_date = DateTime()
    one_tm.commit()
    two_tm.commit()
    one_tm.begin()
    assert one._catalog_pending

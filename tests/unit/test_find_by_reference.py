"""One rule for "the document with this reference": the oldest the user may View wins."""

from __future__ import annotations

from DateTime import DateTime
from Products.Wendelin.document.base import find_by_reference


def _array(portal, reference, created=None):
    document = portal.data_array_module.newContent(portal_type="Data Array", reference=reference)
    if created is not None:
        document.creation_date = DateTime(created)
        document.reindexObject()
    return document


def test_the_oldest_of_duplicates_wins_whatever_the_creation_order(portal):
    later = _array(portal, "dup-ref", "2026-05-02")
    first = _array(portal, "dup-ref", "2026-05-01")  # created after, but dated before
    _array(portal, "dup-ref", "2026-05-03")
    assert find_by_reference(portal, "dup-ref", "Data Array").getId() == first.getId()
    first.creation_date = DateTime("2026-05-04")
    first.reindexObject()
    assert find_by_reference(portal, "dup-ref", "Data Array").getId() == later.getId()


def test_same_dates_fall_back_to_the_lower_id_in_number_order(portal):
    documents = [_array(portal, "same-date", "2026-01-01") for _ in range(12)]
    ids = sorted((d.getId() for d in documents), key=lambda i: (len(i), i))
    assert find_by_reference(portal, "same-date").getId() == ids[0]


def test_the_portal_type_narrows_and_missing_gives_none(portal):
    _array(portal, "typed-ref")
    assert find_by_reference(portal, "typed-ref", "Data Stream") is None
    assert find_by_reference(portal, "no-such-reference") is None
    assert find_by_reference(portal, "") is None
    assert find_by_reference(portal, ["typed-ref"]) is None  # a form's list is not a reference


def test_only_documents_the_user_may_view_unless_unrestricted(portal, site_users, login):
    hidden = _array(portal, "hidden-ref")
    hidden.manage_permission("View", ["Manager"], acquire=False)
    hidden.manage_permission("Access contents information", ["Manager"], acquire=False)
    hidden.reindexObject()
    login("auditor")
    assert find_by_reference(portal, "hidden-ref") is None
    assert find_by_reference(portal, "hidden-ref", unrestricted=True).getId() == hidden.getId()

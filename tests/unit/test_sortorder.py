"""Sorted pages from cached index orders: equal to ZCatalog's full sort, fresh after changes."""

from __future__ import annotations

import numpy as np
import pytest
import transaction
from AccessControl.SecurityManagement import getSecurityManager
from hypothesis import given, settings
from hypothesis import strategies as st
from Products.PluginIndexes.FieldIndex.FieldIndex import FieldIndex
from Products.Wendelin.site import sortorder
from Products.Wendelin.site.sortorder import SortOrder, SortOrderCache
from Products.ZCatalog.ZCatalog import ZCatalog


def reference_page(rids, values, members, start, size, reverse):
    """What ZCatalog's full sort gives: (value, rid) ascending, or all of it reversed."""
    keyed = sorted((values[rids.index(m)], m) for m in members if m in rids)
    if reverse:
        keyed.reverse()
    stop = len(keyed) if size is None else start + size
    return [rid for _, rid in keyed[start:stop]], len(keyed)


class Holder:
    """An object a FieldIndex can index: it only has the attribute ``v``."""

    def __init__(self, value):
        self.v = value


def field_index(data: dict[int, object]) -> FieldIndex:
    """A real FieldIndex holding ``data`` (record id -> value)."""
    index = FieldIndex("v")
    for rid, value in data.items():
        index.index_object(rid, Holder(value))
    return index


@settings(max_examples=200, deadline=None)
@given(
    data=st.dictionaries(
        st.integers(-(2**31), 2**31 - 1),
        st.integers(-3, 3) | st.floats(-2, 2, allow_nan=False) | st.sampled_from(
            ["b", "a", "ab", "é", "B"]
        ),
        max_size=40,
    ).filter(lambda d: len({type(v) for v in d.values()}) <= 1),
    extra=st.lists(st.integers(-(2**31), 2**31 - 1), max_size=5),
    start=st.integers(0, 45),
    size=st.one_of(st.none(), st.integers(1, 10)),
    reverse=st.booleans(),
    pick=st.randoms(use_true_random=False),
)
def test_page_equals_zcatalog_full_sort(data, extra, start, size, reverse, pick):
    rids = sorted(data)
    values = [data[rid] for rid in rids]
    order = sortorder.build_order(field_index(data))
    assert order.rids.tolist() == rids
    assert sorted(order.order.tolist()) == rids
    members = sorted(set(pick.sample(rids, pick.randint(0, len(rids))) + extra))
    page, total = order.page(np.array(members, dtype=np.int64), start, size, reverse)
    assert (page.tolist(), total) == reference_page(rids, values, members, start, size, reverse)


def test_numeric_orders_match_python():
    rids = np.arange(6, dtype=np.int32)
    for values in ([3, 1, 2, 1, 10**12, -5], [0.5, -1.0, 2.25, 0.5, 1e300, -1e-300]):
        order = SortOrder.from_values(rids, values)
        assert order.order.tolist() == sorted(range(6), key=lambda i: (values[i], i))
    huge = [2**70, 1, 2**70 - 1]  # beyond int64: Python compares them
    assert SortOrder.from_values(rids[:3], huge).order.tolist() == [1, 2, 0]


def test_values_that_do_not_compare_give_no_order():
    rids = np.arange(3, dtype=np.int32)
    assert SortOrder.from_values(rids, ["a", None, "b"]) is None
    assert SortOrder.from_values(rids, [1, "a", 2]) is None


def test_empty_index_gives_empty_pages():
    order = sortorder.build_order(field_index({}))
    page, total = order.page(np.array([5, 7]), 0, 10, False)
    assert (page.tolist(), total) == ([], 0)


def _rids(brains):
    return [brain.getRID() for brain in brains]


def _make_titles(portal, prefix, titles):
    module = portal.data_operation_module
    for number, title in enumerate(titles):
        module.newContent(title=title, reference=f"{prefix}-{number:03d}")
    transaction.commit()


@pytest.fixture
def always_build(monkeypatch):
    """Orders are computed even for the few documents these tests create."""
    monkeypatch.setattr(sortorder, "BUILD_SHARE", 10**9)


def test_catalog_pages_follow_zcatalog_sort_with_ties_by_record_id(portal, always_build):
    """Every page agrees with ZCatalog's sort; ties go by record id (reversed when
    descending) on every page, where ZCatalog's tie order depends on its algorithm."""
    titles = [f"t{n % 7}" for n in range(37)]
    _make_titles(portal, "so-pages", titles)
    catalog = portal.portal_catalog
    query = {"reference": {"query": ("so-pages", "so-pages\U0010ffff"), "range": "min:max"}}
    roles = catalog._listAllowedRolesAndUsers(getSecurityManager().getUser())
    for sort_order in ("ascending", "descending"):
        for name in ("title", "getCreationTime", "reference"):
            keys = catalog._catalog.indexes[name].documentToKeyMap()
            whole = ZCatalog.searchResults(
                catalog, None, sort_on=name, sort_order=sort_order,
                allowedRolesAndUsers=roles, **query,
            )
            expected = sorted(_rids(whole), key=lambda rid: (keys[rid], rid))
            if sort_order == "descending":
                expected.reverse()
            assert [keys[rid] for rid in expected] == [keys[rid] for rid in _rids(whole)]
            pages = []
            for start in range(0, 40, 10):
                page = catalog(sort_on=name, sort_order=sort_order, b_start=start,
                               b_size=10, **query)
                assert page.actual_result_count == 37
                pages.extend(_rids(page))
            assert pages == expected, (name, sort_order)
    assert sortorder.cache.lookup(catalog._catalog.indexes["title"]) is not None


def test_committed_change_gives_a_fresh_order(portal, always_build):
    _make_titles(portal, "so-fresh", ["m", "n", "o"])
    catalog = portal.portal_catalog
    query = {"reference": {"query": ("so-fresh", "so-fresh\U0010ffff"), "range": "min:max"}}
    assert [b.title for b in catalog(sort_on="title", **query)] == ["m", "n", "o"]
    builds = sortorder.cache.builds
    assert [b.title for b in catalog(sort_on="title", **query)] == ["m", "n", "o"]
    assert sortorder.cache.builds == builds  # the same committed state: no new build

    document = catalog.getResultValue(title="o", **query)
    document.edit(title="a")
    # This transaction's own change is seen (ZCatalog sorts) and is kept out of the cache.
    assert [b.title for b in catalog(sort_on="title", **query)] == ["a", "m", "n"]
    transaction.savepoint()  # clears the index's unsaved flags; the change is still ours
    assert [b.title for b in catalog(sort_on="title", **query)] == ["a", "m", "n"]
    transaction.abort()
    assert [b.title for b in catalog(sort_on="title", **query)] == ["m", "n", "o"]

    catalog.getResultValue(title="o", **query).edit(title="a")
    transaction.commit()
    assert [b.title for b in catalog(sort_on="title", **query)] == ["a", "m", "n"]
    assert sortorder.cache.builds == builds + 1


def test_deleted_documents_leave_the_order(portal, always_build):
    _make_titles(portal, "so-gone", ["x", "y", "z"])
    catalog = portal.portal_catalog
    query = {"reference": {"query": ("so-gone", "so-gone\U0010ffff"), "range": "min:max"}}
    assert len(catalog(sort_on="title", **query)) == 3
    victim = catalog.getResultValue(title="y", **query)
    victim.aq_parent.manage_delObjects([victim.getId()])
    transaction.commit()
    page = catalog(sort_on="title", sort_order="descending", b_start=0, b_size=2, **query)
    assert [b.title for b in page] == ["z", "x"]
    assert page.actual_result_count == 2


def test_small_result_sets_are_sorted_by_zcatalog_without_an_order(portal):
    module = portal.data_operation_module
    for number in range(3 * sortorder.BUILD_SHARE):  # enough documents besides these
        module.newContent(title=f"filler {number}", reference=f"so-filler-{number}")
    _make_titles(portal, "so-small", ["q", "p"])
    catalog = portal.portal_catalog
    sortorder.cache.clear()
    builds = sortorder.cache.builds
    page = catalog(sort_on="title", sort_order="descending", reference=["so-small-000",
                   "so-small-001"], b_start=1, b_size=5)
    assert [b.title for b in page] == ["p"] and page.actual_result_count == 2
    assert sortorder.cache.builds == builds
    assert len(catalog(sort_on="title", b_size=5)) == 5  # the whole catalog: an order
    assert sortorder.cache.builds == builds + 1


def test_indexes_without_an_order_are_sorted_by_zcatalog(portal):
    catalog = portal.portal_catalog
    assert sortorder.build_order(catalog._catalog.indexes["SearchableText"]) is None
    assert sortorder.build_order(catalog._catalog.indexes["allowedRolesAndUsers"]) is None


class DummyIndex:
    """Just enough of a FieldIndex for the cache: persistent identity and a counter."""

    meta_type = "FieldIndex"

    def __init__(self, jar, oid, values):
        self._p_jar, self._p_oid, self.counter = jar, oid, 0
        self.set(values)

    def set(self, values):
        self._unindex = field_index(values)._unindex

    def getCounter(self):
        return self.counter


class DummyJar:
    def __init__(self):
        self.transaction_manager = transaction.TransactionManager()
        self._db = object.__new__(type("DummyDB", (), {}))

    def db(self):
        return self._db


def test_cache_keeps_one_state_per_index_within_its_budget():
    jar = DummyJar()
    cache = SortOrderCache(budget=12 * 25)  # room for 25 documents
    small = DummyIndex(jar, b"1", {n: n for n in range(10)})
    other = DummyIndex(jar, b"2", {n: -n for n in range(10)})
    assert cache.lookup(small).order.tolist() == list(range(10))
    assert cache.lookup(small) is cache.lookup(small) and cache.builds == 1
    small.counter = 1
    small.set({**{n: n for n in range(10)}, 3: 100})
    assert cache.lookup(small).order.tolist()[-1] == 3 and cache.builds == 2
    assert cache._used == 120  # the older state was dropped
    cache.lookup(other)
    assert cache._used == 240
    big = DummyIndex(jar, b"3", {n: n for n in range(20)})
    assert cache.lookup(big) is not None
    assert cache._used <= 12 * 25  # least recently used states went first
    huge = DummyIndex(jar, b"4", {n: n for n in range(30)})
    assert len(cache.lookup(huge).order) == 30  # too big to keep: computed, used, dropped
    assert cache._used <= 12 * 25


def test_marked_index_is_not_cached():
    jar = DummyJar()
    cache = SortOrderCache()
    index = DummyIndex(jar, b"9", {1: "a"})
    jar.transaction_manager.begin()
    sortorder.mark_changed([index])
    assert cache.lookup(index) is None
    jar.transaction_manager.abort()
    assert cache.lookup(index) is not None


@pytest.fixture(autouse=True)
def _clean_transaction():
    yield
    transaction.abort()


def test_only_the_indexes_an_edit_changes_leave_the_cache(portal, always_build):
    _make_titles(portal, "so-keep", ["k1", "k2"])
    catalog = portal.portal_catalog
    indexes = catalog._catalog.indexes
    query = {"reference": {"query": ("so-keep", "so-keep\U0010ffff"), "range": "min:max"}}
    catalog.getResultValue(reference="so-keep-000").edit(description="changed")
    assert [b.title for b in catalog(sort_on="title", **query)] == ["k1", "k2"]
    assert not sortorder.changed_here(indexes["title"])  # served from the cache
    assert sortorder.changed_here(indexes["getModificationTime"])
    transaction.savepoint()  # the unsaved flag goes; the mark stays
    assert sortorder.changed_here(indexes["getModificationTime"])

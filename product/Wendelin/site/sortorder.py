"""Sorted pages from a process-wide cache of each sort index's order, kept as numpy arrays.

ZCatalog sorts a result set by looking up every member's key in Python, so a deep page
of a 100,000-document listing costs a full sort per request. Here the order of a field
index (record ids by value, ties by record id) is computed once per committed index
state and kept per process as numpy arrays; a page is then found by binary search of the
result set's record ids in that order, so its cost no longer depends on the page.

An index state is named by ``UnIndex.getCounter()``, which grows with every change of
the index and whose committed values are unique (its ``Length`` merges concurrent
increments). Transactions that changed an index themselves never read or fill the
cache: their view of the index is not a committed state.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

#: Bytes the cached orders of one process may take (12 bytes per indexed document).
CACHE_BYTES = 64 * 1024 * 1024

#: An order is computed for a query matching at least 1/BUILD_SHARE of the catalog;
#: ZCatalog sorts smaller result sets itself, in less time than an order costs.
BUILD_SHARE = 8

#: Transaction data key: the oids of the indexes the transaction changed.
_CHANGED = object()

#: Index types whose ``_unindex`` maps each record id to one value.
ORDERABLE_INDEXES = frozenset({"FieldIndex", "DateIndex"})

#: Python value types whose order numpy reproduces exactly.
_INTEGERS = frozenset({int, bool})
_FLOATS = frozenset({float})


@dataclass(frozen=True)
class SortOrder:
    """One index state: record ids ascending (``rids``) and each one's rank in sort order.

    ``order[rank[i]] == rids[i]``; ranks follow (value, record id) ascending, which is
    ZCatalog's full-sort order (descending is the exact reverse).
    """

    rids: np.ndarray
    rank: np.ndarray
    order: np.ndarray

    @property
    def nbytes(self) -> int:
        return self.rids.nbytes + self.rank.nbytes + self.order.nbytes

    @classmethod
    def from_values(cls, rids: np.ndarray, values: list[Any]) -> SortOrder | None:
        """The order of ``values`` (one per record id of ascending ``rids``), or None when
        they do not compare with each other (ZCatalog then sorts as it always did)."""
        kinds = {type(value) for value in values}
        by_value = None
        if kinds <= _INTEGERS:
            try:
                by_value = np.argsort(np.asarray(values, dtype=np.int64), kind="stable")
            except OverflowError:  # beyond 64 bits: Python compares them below
                pass
        elif kinds <= _FLOATS and not any(value != value for value in values):  # no NaN
            by_value = np.argsort(np.asarray(values, dtype=np.float64), kind="stable")
        if by_value is None:  # strings, DateTime ...: Python's comparisons, as the BTree's
            try:
                ranked = sorted(range(len(values)), key=values.__getitem__)
            except TypeError:
                return None
            by_value = np.fromiter(ranked, dtype=np.int64, count=len(values))
        rank = np.empty(len(rids), dtype=np.int32)
        rank[by_value] = np.arange(len(rids), dtype=np.int32)
        return cls(rids=rids, rank=rank, order=rids[by_value])

    def page(self, members: np.ndarray, start: int, size: int | None,
             reverse: bool) -> tuple[np.ndarray, int]:
        """Record ids of the page ``[start:start + size]`` of ``members`` in sort order,
        and how many members this index sorts (the others have no value: left out)."""
        if not len(self.rids):
            return self.order, 0
        where = np.searchsorted(self.rids, members)
        where[where == len(self.rids)] = 0
        known = self.rids[where] == members
        ranks = np.sort(self.rank[where[known]])
        total = len(ranks)
        if reverse:
            ranks = ranks[::-1]
        stop = total if size is None else start + size
        return self.order[ranks[start:stop]], total


def record_ids(result_set: Any) -> np.ndarray:
    """The record ids of a ZCatalog result set (an IISet, IITreeSet or scored IIBucket)."""
    keys: Iterable[int] = result_set.keys() if hasattr(result_set, "keys") else result_set
    ids = np.fromiter(keys, dtype=np.int64, count=len(result_set))
    if len(ids) > 1 and not bool(np.all(ids[1:] > ids[:-1])):
        ids = np.unique(ids)
    return ids


def orderable(index: Any) -> bool:
    """Whether ``index`` is of a type this module orders."""
    return getattr(index, "meta_type", None) in ORDERABLE_INDEXES


def build_order(index: Any) -> SortOrder | None:
    """The order of a FieldIndex or DateIndex, or None for other index types.

    Read from the index's record id -> value BTree, whose values sit in its buckets: the
    value -> record ids BTree would load one persistent set per distinct value."""
    backward = getattr(index, "_unindex", None)
    if not orderable(index) or backward is None:
        return None
    rids = np.fromiter(backward.keys(), dtype=np.int32, count=len(backward))
    return SortOrder.from_values(rids, list(backward.values()))


class SortOrderCache:
    """Orders by (database, index oid, index counter); least recently used evicted first."""

    def __init__(self, budget: int = CACHE_BYTES) -> None:
        self.budget = budget
        self._entries: OrderedDict[tuple, tuple[weakref.ref, SortOrder]] = OrderedDict()
        self._used = 0
        self._lock = threading.Lock()
        self.builds = 0  # orders computed so far (tests and benchmarks read it)

    def lookup(self, index: Any, build: bool = True) -> SortOrder | None:
        """The order of ``index`` as the current transaction sees it, computed when missing
        if ``build``; None when this transaction changed the index, when it has no order
        (other index types, values that do not compare) or when it is missing and not built."""
        jar = getattr(index, "_p_jar", None)
        if jar is None or index._p_oid is None or changed_here(index):
            return None
        db = jar.db()
        key = (id(db), index._p_oid, index.getCounter())
        with self._lock:
            found = self._entries.get(key)
            if found is not None and found[0]() is db:
                self._entries.move_to_end(key)
                return found[1]
        if not build:
            return None
        entry = build_order(index)
        if entry is None:
            return None
        self.builds += 1
        if entry.nbytes <= self.budget:
            with self._lock:
                for stale in [k for k in self._entries if k[:2] == key[:2]]:  # older states
                    self._used -= self._entries.pop(stale)[1].nbytes
                self._entries[key] = (weakref.ref(db), entry)
                self._used += entry.nbytes
                while self._used > self.budget:
                    self._used -= self._entries.popitem(last=False)[1][1].nbytes
        return entry

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._used = 0


def mark_changed(indexes: Iterable[Any]) -> None:
    """Note that the current transaction changes ``indexes``: it must not use the cache,
    even after a savepoint has cleared the indexes' unsaved-changes flags."""
    for index in indexes:
        if getattr(index, "_p_jar", None) is None or index._p_oid is None:
            continue
        txn = index._p_jar.transaction_manager.get()
        try:
            changed = txn.data(_CHANGED)
        except KeyError:
            changed = set()
            txn.set_data(_CHANGED, changed)
        changed.add(index._p_oid)


def changed_here(index: Any) -> bool:
    """Whether the current transaction changed ``index`` (marked, or its counter unsaved)."""
    counter = getattr(index, "_counter", None)
    if counter is not None and counter._p_changed:
        return True
    try:
        return index._p_oid in index._p_jar.transaction_manager.get().data(_CHANGED)
    except KeyError:  # this transaction marked nothing
        return False


#: The process's cache; one is enough, databases are told apart inside.
cache = SortOrderCache()

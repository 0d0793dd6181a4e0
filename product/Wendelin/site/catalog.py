"""``portal_catalog``: CMF's permission-filtered ZCatalog with strict, ERP5-style queries.

A query key that names no index is an error, never a silent match-all; ``limit``
bounds the result inside the catalog. Sorting on one field index takes its page from
:mod:`.sortorder`'s cached order instead of sorting the whole result set per query.
"""

from __future__ import annotations

from typing import Any

from AccessControl.class_init import InitializeClass
from AccessControl.Permissions import manage_zcatalog_entries
from AccessControl.SecurityInfo import ClassSecurityInfo
from AccessControl.SecurityManagement import getSecurityManager
from BTrees.IIBTree import IIBTree
from BTrees.OOBTree import OOBTree
from Products.CMFCore.CatalogTool import CatalogTool
from Products.CMFCore.indexing import processQueue
from Products.ZCatalog.ZCatalog import ZCatalog
from Products.ZCTextIndex.OkapiIndex import OkapiIndex
from ZTUtils.Lazy import LazyCat, LazyMap

from ..errors import CatalogQueryError
from ..permissions import View
from . import sortorder

#: Query keys that steer a search rather than name an index.
QUERY_OPTIONS = frozenset({"sort_on", "sort_order", "sort_limit", "limit", "b_start", "b_size"})


class OneDocument:
    """A word's only document and its frequency, kept in ``_wordinfo`` where Okapi keeps a
    dict. Unlike a dict it compares, which BTrees' conflict resolution needs: a bucket
    holding any dict cannot be merged, whichever of its keys two transactions changed."""

    __slots__ = ("docid", "weight")

    def __init__(self, docid: int, weight: int) -> None:
        self.docid = docid
        self.weight = weight

    def __getstate__(self) -> tuple[int, int]:
        return self.docid, self.weight

    def __setstate__(self, state: tuple[int, int]) -> None:
        self.docid, self.weight = state

    def __eq__(self, other: object) -> bool:
        return isinstance(other, OneDocument) and self.__getstate__() == other.__getstate__()

    def __lt__(self, other: object) -> bool:  # never raises: merges compare any two values
        return isinstance(other, OneDocument) and self.__getstate__() < other.__getstate__()

    __hash__ = None  # type: ignore[assignment]

    def __len__(self) -> int:
        return 1

    def __contains__(self, docid: int) -> bool:
        return docid == self.docid

    def get(self, docid: int, default: Any = None) -> Any:
        return self.weight if docid == self.docid else default

    def keys(self) -> list[int]:
        return [self.docid]

    def items(self) -> list[tuple[int, int]]:
        return [(self.docid, self.weight)]

    def __repr__(self) -> str:
        return f"OneDocument({self.docid}, {self.weight})"


class ConcurrentOkapiIndex(OkapiIndex):
    """ZCTextIndex's Okapi BM25 index, laid out so parallel transactions indexing
    different documents merge instead of conflicting.

    Okapi maps each word to a dict of its documents, kept inside a ``_wordinfo`` bucket
    until it holds 10 of them, and stores the word again for every document indexed:
    BTrees cannot merge buckets holding dicts (dicts do not compare), so any two
    documents whose words share a bucket conflict (a notebook line's number, a common
    title word). Here a word's only document is a :class:`OneDocument` and the second
    makes the word's own IIBTree, which concurrent inserts merge into; the bucket is not
    written again for that word. Search reads both as Okapi's mappings.
    """

    def _add_wordinfo(self, wid: int, f: int, docid: int) -> None:
        self._mass_add_wordinfo({wid: f}, docid)

    def _mass_add_wordinfo(self, wid2weight: dict[int, int], docid: int) -> None:
        wordinfo = self._wordinfo
        new_words = 0
        for wid, weight in wid2weight.items():
            docs = wordinfo.get(wid)
            if docs is None:
                wordinfo[wid] = OneDocument(docid, weight)
                new_words += 1
            elif docs.get(docid) == weight:
                continue
            elif isinstance(docs, OneDocument) and docs.docid == docid:
                wordinfo[wid] = OneDocument(docid, weight)
            elif isinstance(docs, (OneDocument, dict)):  # dict: written by Okapi itself
                tree = IIBTree(docs.items())
                tree[docid] = weight
                wordinfo[wid] = tree
            else:
                docs[docid] = weight  # its own object: the bucket stays as it is
        if new_words:
            self.length.change(new_words)

    def _del_wordinfo(self, wid: int, docid: int) -> None:
        docs = self._wordinfo[wid]
        if len(docs) <= 1:
            del self._wordinfo[wid]
            self.length.change(-1)
        elif isinstance(docs, dict):
            self._wordinfo[wid] = IIBTree((d, w) for d, w in docs.items() if d != docid)
        else:
            del docs[docid]


class TimeOOBTree(OOBTree):
    """The value -> documents tree of an index on a time: buckets of 256 keys, not 30.

    New documents' times are the newest, so every creation inserts into the tree's last
    bucket, and the transaction that splits it conflicts with every other transaction
    inserting there at the same moment (merging cannot move keys across buckets). With
    larger buckets that split comes every ~128 inserts instead of every ~15."""

    max_leaf_size = 256


#: Field indexes whose values are times (new documents add their largest keys).
TIME_INDEXES = ("getCreationTime", "getModificationTime")


def tune_for_concurrency(catalog: Any) -> list[str]:
    """Lay out the catalog's indexes so parallel commits merge (idempotent, no reindexing):
    Okapi text indexes become :class:`ConcurrentOkapiIndex` (the dicts Okapi left in
    ``_wordinfo`` converted), time indexes get a :class:`TimeOOBTree`. Returns the names
    of the indexes changed."""
    changed = []
    for name, index in catalog._catalog.indexes.items():
        inner = getattr(index, "index", None)
        if getattr(index, "_index_factory", None) is OkapiIndex:
            index._index_factory = ConcurrentOkapiIndex
        if type(inner) is OkapiIndex:
            upgraded = ConcurrentOkapiIndex.__new__(ConcurrentOkapiIndex)
            upgraded.__setstate__(inner.__getstate__())
            wordinfo = upgraded._wordinfo
            for wid, docs in list(wordinfo.items()):
                if isinstance(docs, dict):
                    wordinfo[wid] = (OneDocument(*next(iter(docs.items()))) if len(docs) == 1
                                     else IIBTree(docs))
            index.index = upgraded
            changed.append(name)
        if name in TIME_INDEXES and type(getattr(index, "_index", None)) is OOBTree:
            index._index = TimeOOBTree(index._index)
            changed.append(name)
    return changed


class WendelinCatalogTool(CatalogTool):
    """The portal catalog; call it with index names as keywords."""

    meta_type = "Wendelin Catalog"
    security = ClassSecurityInfo()

    def _checkQuery(self, query: dict[str, Any]) -> dict[str, Any]:
        indexes = set(self.indexes())
        unknown = sorted(key for key in query if key not in indexes and key not in QUERY_OPTIONS)
        if unknown:
            raise CatalogQueryError(
                f"unknown catalog query key(s) {', '.join(map(repr, unknown))}; "
                f"indexes are: {', '.join(sorted(indexes))}"
            )
        query = dict(query)
        limit = query.pop("limit", None)
        if limit is not None:
            try:
                limit = int(limit)
            except (TypeError, ValueError):
                raise CatalogQueryError(f"limit must be an integer, got {limit!r}") from None
            if limit < 0:
                raise CatalogQueryError(f"limit must not be negative, got {limit}")
            query["sort_limit"] = limit
        sort_order = query.get("sort_order")
        if sort_order is not None and sort_order not in ("ascending", "descending", "reverse"):
            raise CatalogQueryError(
                f"sort_order must be 'ascending' or 'descending', got {sort_order!r}"
            )
        sort_on = query.get("sort_on")
        if sort_on is not None:
            keys = [sort_on] if isinstance(sort_on, str) else list(sort_on)
            bad = [key for key in keys if key not in indexes]
            if bad:
                raise CatalogQueryError(f"cannot sort on unknown index {bad[0]!r}")
        return query

    @security.protected(View)
    def searchResults(self, REQUEST=None, **query: Any):
        """Brains the caller may view, matching ``query`` (ERP5: ``portal_catalog(**query)``)."""
        query = self._checkQuery(query)
        limit = query.get("sort_limit")
        processQueue()
        user = getSecurityManager().getUser()
        query["allowedRolesAndUsers"] = self._listAllowedRolesAndUsers(user)
        results = self._sortedPage(query)
        if results is None:
            results = ZCatalog.searchResults(self, None, **query)
        if limit is not None:
            results = results[:limit]
        return results

    __call__ = searchResults

    def _sortedPage(self, query: dict[str, Any]) -> Any:
        """The requested page of a query sorted on one field index: from the index's cached
        order, or sorted by ZCatalog when the result set is small or the transaction changed
        the index. None for other sorts (ZCatalog's search does them)."""
        sort_on = query.get("sort_on")
        if isinstance(sort_on, (list, tuple)) and len(sort_on) == 1:
            sort_on = sort_on[0]
        sort_order = query.get("sort_order")
        if not isinstance(sort_on, str) or isinstance(sort_order, (list, tuple)):
            return None
        index = self._catalog.indexes[sort_on]
        if not sortorder.orderable(index):
            return None
        matching = self._matchingRecords(query)
        if not matching:
            return LazyCat([])
        start = int(query.get("b_start", 0) or 0)
        size = query.get("b_size", query.get("sort_limit"))
        size = None if size is None else int(size)
        reverse = sort_order in ("descending", "reverse")
        share = len(matching) * sortorder.BUILD_SHARE >= len(self._catalog)
        order = sortorder.cache.lookup(index, build=share)
        if order is None:
            return self._catalog.sortResults(
                matching, index, reverse, None if size is None else start + size,
                actual_result_count=len(matching), b_start=start, b_size=size,
            )
        rids, total = order.page(sortorder.record_ids(matching), start, size, reverse)
        return LazyMap(self._catalog.__getitem__, rids.tolist(), len(rids),
                       actual_result_count=total)

    def _matchingRecords(self, query: dict[str, Any]) -> Any:
        """The record ids matching ``query``'s index terms, unsorted (ZCatalog's own
        query plan, as ``Catalog.search`` runs it before sorting)."""
        catalog = self._catalog
        query = catalog.make_query(query)
        plan = catalog.getCatalogPlan(query)
        plan.start()
        matching = None
        for index_id in plan.plan() or catalog._sorted_search_indexes(query):
            if index_id in catalog.indexes:
                matching = catalog._search_index(plan, index_id, query, matching)
                if not matching:
                    break
        plan.stop()
        return matching

    def _sortIndexCounters(self, names: Any = None) -> dict[str, int]:
        """The change counters of the orderable indexes among ``names`` (all when empty)."""
        indexes = self._catalog.indexes
        return {
            name: indexes[name].getCounter()
            for name in (names or indexes)
            if name in indexes and sortorder.orderable(indexes[name])
        }

    def _markChangedSince(self, counters: dict[str, int]) -> None:
        """Mark, for this transaction, the indexes whose counters moved since ``counters``."""
        indexes = self._catalog.indexes
        sortorder.mark_changed(
            indexes[name] for name, count in counters.items()
            if indexes[name].getCounter() != count
        )

    @security.protected(manage_zcatalog_entries)
    def catalog_object(self, obj: Any, uid: Any = None, idxs: Any = None,
                       update_metadata: int = 1, pghandler: Any = None) -> None:
        """Catalog ``obj``, noting which sort indexes this transaction really changed."""
        counters = self._sortIndexCounters(idxs)
        super().catalog_object(obj, uid, idxs, update_metadata, pghandler)
        self._markChangedSince(counters)

    @security.protected(manage_zcatalog_entries)
    def uncatalog_object(self, uid: str) -> None:
        """Remove ``uid`` from the catalog, noting which sort indexes changed."""
        counters = self._sortIndexCounters()
        super().uncatalog_object(uid)
        self._markChangedSince(counters)

    @security.protected(View)
    def getResultValue(self, **query: Any):
        """The first matching object, or None (ERP5's ``getResultValue``)."""
        query.setdefault("limit", 1)
        for brain in self.searchResults(**query):
            return brain.getObject()
        return None

    @security.protected(View)
    def countResults(self, **query: Any) -> int:
        """How many documents the caller may view match ``query``."""
        return len(self.searchResults(**query))


InitializeClass(WendelinCatalogTool)

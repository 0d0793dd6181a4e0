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
from Products.CMFCore.CatalogTool import CatalogTool
from Products.CMFCore.indexing import processQueue
from Products.ZCatalog.ZCatalog import ZCatalog
from ZTUtils.Lazy import LazyCat, LazyMap

from .. import cmfprivate

# Persistent classes pickled under this module before they moved to cmfprivate.py:
from ..cmfprivate import (  # noqa: F401
    ConcurrentOkapiIndex,
    OneDocument,
    TimeOOBTree,
    tune_for_concurrency,
)
from ..errors import CatalogQueryError
from ..permissions import View
from . import sortorder

#: Query keys that steer a search rather than name an index.
QUERY_OPTIONS = frozenset({"sort_on", "sort_order", "sort_limit", "limit", "b_start", "b_size"})


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
        query["allowedRolesAndUsers"] = cmfprivate.allowed_roles_and_users(self, user)
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
        index = cmfprivate.indexes(self)[sort_on]
        if not sortorder.orderable(index):
            return None
        matching = self._matchingRecords(query)
        if not matching:
            return LazyCat([])
        start = int(query.get("b_start", 0) or 0)
        size = query.get("b_size", query.get("sort_limit"))
        size = None if size is None else int(size)
        reverse = sort_order in ("descending", "reverse")
        share = len(matching) * sortorder.BUILD_SHARE >= cmfprivate.record_count(self)
        order = sortorder.cache.lookup(index, build=share)
        if order is None:
            return cmfprivate.sort_records(self, matching, index, reverse, start, size)
        rids, total = order.page(sortorder.record_ids(matching), start, size, reverse)
        return LazyMap(cmfprivate.record_getter(self), rids.tolist(), len(rids),
                       actual_result_count=total)

    def _matchingRecords(self, query: dict[str, Any]) -> Any:
        """The record ids matching ``query``'s index terms, unsorted."""
        return cmfprivate.matching_records(self, query)

    def _sortIndexCounters(self, names: Any = None) -> dict[str, int]:
        """The change counters of the orderable indexes among ``names`` (all when empty)."""
        indexes = cmfprivate.indexes(self)
        return {
            name: indexes[name].getCounter()
            for name in (names or indexes)
            if name in indexes and sortorder.orderable(indexes[name])
        }

    def _markChangedSince(self, counters: dict[str, int]) -> None:
        """Mark, for this transaction, the indexes whose counters moved since ``counters``."""
        indexes = cmfprivate.indexes(self)
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

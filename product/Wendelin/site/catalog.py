"""``portal_catalog``: CMF's permission-filtered ZCatalog with strict, ERP5-style queries.

A query key that names no index is an error, never a silent match-all; ``limit``
bounds the result inside the catalog.
"""

from __future__ import annotations

from typing import Any

from AccessControl.class_init import InitializeClass
from AccessControl.SecurityInfo import ClassSecurityInfo
from AccessControl.SecurityManagement import getSecurityManager
from Products.CMFCore.CatalogTool import CatalogTool
from Products.CMFCore.indexing import processQueue
from Products.ZCatalog.ZCatalog import ZCatalog

from ..errors import CatalogQueryError
from ..permissions import View

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
        query["allowedRolesAndUsers"] = self._listAllowedRolesAndUsers(user)
        results = ZCatalog.searchResults(self, None, **query)
        if limit is not None:
            results = results[:limit]
        return results

    __call__ = searchResults

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

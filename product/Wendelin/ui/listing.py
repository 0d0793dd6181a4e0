"""Module listings driven by ``portal_catalog``: search, filter, sort and page in the catalog.

Rows are built from catalog brains' metadata only, so a page costs the same with
ten documents or a hundred thousand: no document is ever loaded to list it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlencode

from Products.ZCTextIndex.ParseTree import ParseError

from ..humanize import human_date, human_duration, human_size, iso_date

#: Column name -> the catalog index it sorts on (ids are sequential: creation order).
#: Dates sort on full-resolution field indexes (the date indexes keep minutes only).
SORT_INDEXES = {
    "id": "getCreationTime",  # numbers sort in C; DateTime objects compare in Python
    "title": "title",
    "reference": "reference",
    "portal_type": "portal_type",
    "size": "getSize",
    "modified": "getModificationTime",
    "owner": "Creator",
}
COLUMNS = (
    ("id", "Id"),
    ("title", "Title"),
    ("reference", "Reference"),
    ("portal_type", "Type"),
    ("size", "Size"),
    ("modified", "Modified"),
    ("owner", "Owner"),
)
PAGE_SIZES = (20, 50, 100, 200)
DEFAULT_PAGE_SIZE = 50
_WORD = re.compile(r"\w+", re.UNICODE)


@dataclass(frozen=True)
class ListingParams:
    """What the visitor asked for; every value validated, so any URL gives a page."""

    search: str = ""
    reference: str = ""
    sort: str = "modified"
    order: str = "descending"
    start: int = 0
    size: int = DEFAULT_PAGE_SIZE

    @classmethod
    def from_form(cls, form: dict[str, Any]) -> ListingParams:
        """Read ``q``, ``reference``, ``sort``, ``order``, ``start``, ``size`` leniently."""

        def text(name: str) -> str:
            value = form.get(name, "")
            return value.strip()[:200] if isinstance(value, str) else ""

        def number(name: str, default: int) -> int:
            try:
                return max(0, int(form.get(name, default)))
            except (TypeError, ValueError):
                return default

        sort = text("sort")
        size = number("size", DEFAULT_PAGE_SIZE)
        return cls(
            search=text("q"),
            reference=text("reference"),
            sort=sort if sort in SORT_INDEXES else "modified",
            order="ascending" if text("order") == "ascending" else "descending",
            start=number("start", 0),
            size=size if size in PAGE_SIZES else DEFAULT_PAGE_SIZE,
        )

    def query_string(self, **changes: Any) -> str:
        """The URL query for these parameters with ``changes`` applied (defaults left out)."""
        params = replace(self, **changes)
        pairs = {
            "q": params.search,
            "reference": params.reference,
            "sort": params.sort if params.sort != "modified" else "",
            "order": params.order if params.order != "descending" else "",
            "start": params.start or "",
            "size": params.size if params.size != DEFAULT_PAGE_SIZE else "",
        }
        return urlencode({key: value for key, value in pairs.items() if value != ""})


def text_query(search: str) -> str:
    """A safe ZCTextIndex query: the words of ``search``, each as a prefix, all required."""
    words = _WORD.findall(search)
    return " ".join(f"{word}*" if len(word) > 1 else word for word in words[:10])


def catalog_query(module: Any, params: ListingParams) -> dict[str, Any]:
    """The catalog query for one page of ``module``'s listing."""
    query: dict[str, Any] = {
        "path": "/".join(module.getPhysicalPath()),
        "portal_type": module.getAllowedPortalTypeList(),
        "sort_on": SORT_INDEXES[params.sort],
        "sort_order": params.order,
        "b_start": params.start,
        "b_size": params.size,
    }
    words = text_query(params.search)
    if words:
        query["SearchableText"] = words
    if params.reference:
        # A prefix filter: every reference from "rec" up to "rec" followed by the last code point.
        query["reference"] = {
            "query": (params.reference, params.reference + "\U0010ffff"),
            "range": "min:max",
        }
    return query


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def brain_row(brain: Any) -> dict[str, Any]:
    """One listing row from a catalog brain's metadata (the document is not loaded)."""
    size = getattr(brain, "getSize", None)
    duration = getattr(brain, "audio_duration", None)
    modified = getattr(brain, "modification_date", None)
    return {
        "id": _text(brain.id),
        "url": brain.getURL(),
        "title": _text(brain.title),
        "reference": _text(brain.reference),
        "portal_type": _text(brain.portal_type),
        "size": human_size(size),
        "size_bytes": size if isinstance(size, int) else "",
        "duration": human_duration(duration),
        "content_type": _text(getattr(brain, "content_type", "")),
        "modified": human_date(modified),
        "modified_iso": iso_date(modified),
        "owner": _text(getattr(brain, "Creator", "")),
    }


def listing_page(module: Any, params: ListingParams) -> dict[str, Any]:
    """Rows of one page, the total count and the links to move around."""
    catalog = module.portal_catalog
    error = ""
    try:
        results = catalog(**catalog_query(module, params))
    except ParseError as exc:  # a query the text index cannot parse: say so, list nothing
        error = f"Search not understood: {exc}"
        results = []
    total = getattr(results, "actual_result_count", None)
    total = len(results) if total is None else total
    start = min(params.start, max(0, total - 1)) if total else 0
    if start != params.start:
        params = replace(params, start=start - start % params.size)
        results = catalog(**catalog_query(module, params))
    # ZCatalog returns only the requested batch when it sorts with b_start/b_size.
    batch = results if len(results) <= params.size else results[
        params.start:params.start + params.size
    ]
    rows = [brain_row(brain) for brain in batch]
    end = params.start + len(rows)
    previous_start = max(0, params.start - params.size)
    last_start = ((total - 1) // params.size) * params.size if total else 0
    pages = {
        "first": params.query_string(start=0) if params.start else "",
        "previous": params.query_string(start=previous_start) if params.start else "",
        "next": params.query_string(start=end) if end < total else "",
        "last": params.query_string(start=last_start) if end < total else "",
    }
    columns = []
    for name, label in COLUMNS:
        active = params.sort == name
        next_order = "descending" if active and params.order == "ascending" else "ascending"
        columns.append(
            {
                "name": name,
                "label": label,
                "href": "?" + params.query_string(sort=name, order=next_order, start=0),
                "sort": (params.order if active else "none"),
            }
        )
    return {
        "rows": rows,
        "total": total,
        "first_index": params.start + 1 if rows else 0,
        "last_index": end,
        "pages": pages,
        "columns": columns,
        "search": params.search,
        "reference": params.reference,
        "sort": params.sort,
        "order": params.order,
        "size": params.size,
        "page_sizes": PAGE_SIZES,
        "error": error,
        "filtered": bool(params.search or params.reference),
    }


def recent_documents(portal: Any, limit: int = 8) -> list[dict[str, Any]]:
    """The most recently modified documents of all modules, from the catalog."""
    types: list[str] = []
    for module in portal.getModuleList():
        types.extend(module.getAllowedPortalTypeList())
    results = portal.portal_catalog(
        portal_type=types, sort_on="getModificationTime", sort_order="descending", limit=limit
    )
    return [brain_row(brain) for brain in results[:limit]]

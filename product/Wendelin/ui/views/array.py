"""The Data Array page (and Data Array Line): shape, dtype, a decimated plot and slices."""

from __future__ import annotations

from typing import Any

from AccessControl.class_init import InitializeClass
from AccessControl.SecurityInfo import ClassSecurityInfo
from AccessControl.SecurityManagement import getSecurityManager

from ...permissions import View
from .. import arrays, cache
from .base import (
    BaseView,
    _png,
)


class DataArrayView(BaseView):
    """A Data Array or Data Array Line: shape, dtype, the first rows, a decimated plot,
    ``.npy`` download; an array's lines, a line's parent and index expression."""

    security = ClassSecurityInfo()
    template = "DataArray_view"

    @security.protected(View)
    def array(self) -> dict[str, Any]:
        """Facts, first rows, plot link, download link (raw even for a browser), lines."""
        doc = self.context
        try:
            info, problem = arrays.array_info(doc), ""
        except ValueError as exc:  # a line whose index no longer fits its parent
            info, problem = {}, str(exc)
        url = doc.absolute_url()
        kind = arrays.plot_kind(doc) if info else ""
        return {
            "info": info,
            "problem": problem,
            "rows": arrays.first_rows(doc) if info else {"header": [], "rows": []},
            "plot_url": f"{url}/DataArray_viewPlot" if kind else "",
            "plot_kind": kind,
            # a browser following the document URL gets the page: the link says "the file"
            "npy_url": f"{url}?format=npy" if info else "",
            "lines": arrays.line_list(doc, self._can_view),
            "parent": arrays.parent_info(doc),
        }

    def _can_view(self, document: Any) -> bool:
        return bool(getSecurityManager().checkPermission(View, document))

    @security.protected(View)
    def plot(self) -> bytes:
        """The cached plot PNG (404 when the array cannot be plotted)."""
        doc = self.context
        if not arrays.plot_kind(doc):
            self.request.response.setStatus(404)
            self.request.response.setHeader("Content-Type", "text/plain")
            return b"this array cannot be plotted"
        parent = arrays.parent_info(doc)
        # a line shows its parent's data: the parent's state is part of the key
        extra = cache.content_key(doc.getParentDataArray(), "parent") if parent else ()
        key = cache.content_key(doc, "plot", arrays.PLOT_WIDTH, *extra)
        data, hit = cache.cached(key, lambda: arrays.plot_png(doc))
        return _png(self.request, data, hit)


InitializeClass(DataArrayView)

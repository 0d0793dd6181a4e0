"""GET and HEAD of a Data Array's (or Data Array Line's) URL, as Wendelin's JavaScript reads it.

- a browser (``Accept: text/html``, no Range, no selection) gets the document's page;
- ``?slice_index.start:records:int=a&slice_index.stop:records:int=b`` (one record per
  axis) and ``list_index:list=<field>`` answer the raw packed bytes of that selection,
  ``format=raw`` the whole array's, with ``X-Array-Dtype`` and ``X-Array-Shape``;
- anything else gets the ``.npy``.
Every answer is streamed block by block, honours a single byte ``Range`` and tells its
true length to ``HEAD``.
"""

from __future__ import annotations

from typing import Any

from zExceptions import NotFound
from ZPublisher.HTTPRequest import record

from ..document.array import check_names, dtype_header
from ..errors import InvalidInputError
from ..inputs import as_int
from .responses import ranged_answer


class ArrayAnswer:
    """The answer to GET or HEAD of an array document's URL (see the module docstring)."""

    def __init__(self, document: Any, request: Any) -> None:
        self.document = document
        self.request = request

    def __call__(self) -> Any:
        document, request = self.document, self.request
        response = request.response
        form = request.form
        response.setHeader("Vary", "Accept")
        fmt = form.get("format")
        if fmt is not None and fmt not in ("npy", "raw"):
            raise InvalidInputError(f"format must be 'npy' or 'raw', got {str(fmt)[:40]!r}")
        sliced = "slice_index" in form or "list_index" in form
        if (fmt is None and not sliced and request.get("REQUEST_METHOD") == "GET"
                and "text/html" in (request.get_header("Accept") or "")
                and not request.get_header("Range")):
            return self._page()
        array = document.getArray()
        if array is None:
            raise NotFound(f"{document.getPortalType()} {document.getId()!r} has no array yet")
        name = document.getReference() or document.getId()
        if sliced or fmt == "raw":
            key, fields = requested_selection(request, tuple(array.shape))
            shape, dtype, length, body = document.selectionBody(key, fields)
            self._describe(shape, dtype)
            return self._bytes(length, body, name + ".bin")
        self._describe(tuple(array.shape), array.dtype)
        length, body = document.npyBody()
        return self._bytes(length, body, name + ".npy")

    def _page(self) -> Any:
        """The document's page, as its portal type's ``view`` alias names it."""
        fti = self.document.getTypeInfo()
        method = fti.queryMethodID("view", default=None) if fti is not None else None
        return getattr(self.document, method or "Base_view")()

    def _describe(self, shape: tuple[int, ...], dtype: Any) -> None:
        response = self.request.response
        response.setHeader("X-Array-Dtype", dtype_header(dtype))
        response.setHeader("X-Array-Shape", ",".join(str(n) for n in shape))

    def _bytes(self, length: int, body: Any, name: str) -> Any:
        return ranged_answer(self.request, self.request.response, length, body,
                             "application/octet-stream", name, attachment=True)


def requested_selection(request: Any, shape: tuple[int, ...]
                        ) -> tuple[tuple | None, tuple[str, ...] | str | None]:
    """The basic key of ``slice_index`` records (one per axis) and the ``list_index``
    fields of a request, validated (InvalidInputError names the bad parameter)."""
    form = request.form
    key: tuple | None = None
    raw = form.get("slice_index")
    if raw is not None:
        records = [raw] if isinstance(raw, record) else raw
        if not isinstance(records, list) or not all(isinstance(r, record) for r in records):
            raise InvalidInputError(
                "slice_index must be records: slice_index.start:records:int=0&"
                "slice_index.stop:records:int=10"
            )
        if len(records) > len(shape):
            raise InvalidInputError(f"slice_index has {len(records)} records, the array "
                                    f"{len(shape)} axes")
        slices = []
        for axis, entry in enumerate(records):
            values = dict(vars(entry))
            unknown = sorted(set(values) - {"start", "stop", "step"})
            if unknown:
                raise InvalidInputError(f"slice_index has no {unknown[0][:40]!r} (use "
                                        "start, stop and step)")
            bounds = [None if values.get(name) in (None, "") else
                      as_int(f"slice_index.{name} (axis {axis})", values[name],
                             -(2**63), 2**63 - 1)
                      for name in ("start", "stop", "step")]
            if bounds[2] == 0:
                raise InvalidInputError(f"slice_index.step (axis {axis}) must not be 0")
            slices.append(slice(*bounds))
        key = tuple(slices)
    fields = form.get("list_index")
    if fields is not None:
        if isinstance(fields, str):
            fields = (fields,)
        if not isinstance(fields, list) and not isinstance(fields, tuple):
            raise InvalidInputError("list_index must be field names: list_index:list=x")
        fields = check_names(list(fields), "list_index")
    return key, fields

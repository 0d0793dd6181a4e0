"""Transforms run on what an Ingestion Policy appended: CSV lines of numbers to a Data Array.

A transform reads the stream from where the previous run stopped, consumes complete lines
only (a line cut between two posts waits for the rest) and returns how many bytes it
consumed, so the policy knows where the next run starts.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..document.base import find_by_reference
from ..errors import InvalidInputError, MethodNotAllowedError, WendelinError
from ..inputs import as_int
from ..permissions import ModifyPortalContent, require_permission

MAX_LINE_BLOCK = 8 * 1024 * 1024


class TransformError(WendelinError, ValueError):
    """Data a transform cannot read, with the offending line."""


def parse_csv_numbers(text: bytes, columns: int | None = None) -> np.ndarray:
    """Rows of comma-separated numbers as a float64 array of shape (rows, columns)."""
    rows = []
    for number, line in enumerate(text.decode("utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            values = [float(field) for field in line.split(",")]
        except ValueError:
            raise TransformError(f"line {number} is not numbers: {line[:80]!r}") from None
        if columns is not None and len(values) != columns:
            raise TransformError(
                f"line {number} has {len(values)} values, {columns} expected: {line[:80]!r}"
            )
        columns = len(values)
        rows.append(values)
    return np.array(rows, dtype=np.float64).reshape(len(rows), columns or 0)


def refuse_unless_post(what: str) -> None:
    """MethodNotAllowedError when the current request (if any) is not a POST: a GET or a
    HEAD must never append, even where the edge would not notice the write."""
    from zope.globalrequest import getRequest

    request = getRequest()
    if request is None:
        return  # code outside a request: scripts, threads
    method = str(request.get("REQUEST_METHOD", "POST")).upper()
    if method != "POST":
        raise MethodNotAllowedError(f"{what} changes data: it answers POST only, not {method}")


def append_csv_to_array(stream: Any, start: Any = 0, end: Any = None,
                        reference: str | None = None) -> int:
    """Append the complete CSV lines of ``stream[start:end]`` to a 2-D Data Array.

    The array (reference: the stream's reference + ``.csv-array`` by default) is created on
    first use with as many columns as the first line. Returns the bytes consumed.
    ``start`` and ``end`` may come from a URL: they are validated (InvalidInputError).
    """
    refuse_unless_post("DataStream_appendCsvToArray")
    start = as_int("start", start, minimum=0)
    end = stream.getSize() if end is None or end == "" else as_int("end", end, minimum=0)
    if reference is not None and (not isinstance(reference, str) or len(reference) > 200):
        raise InvalidInputError(f"reference must be a text of at most 200 characters, "
                                f"got {str(reference)[:80]!r}")
    end = min(end, stream.getSize())
    if end <= start:
        return 0
    consumed = 0
    portal = stream.getPortalObject()
    reference = reference or f"{stream.getReference() or stream.getId()}.csv-array"
    document = find_by_reference(portal, reference, "Data Array")
    if document is not None:
        require_permission(ModifyPortalContent, document, "append rows to")
    position = start
    while position < end:
        block = b"".join(stream.readChunkList(position, min(end, position + MAX_LINE_BLOCK)))
        cut = block.rfind(b"\n")
        if cut < 0:
            break  # no complete line yet
        rows = parse_csv_numbers(block[: cut + 1])
        if len(rows):
            if document is None:
                document = portal.data_array_module.newContent(
                    portal_type="Data Array", reference=reference, title=f"CSV of {reference}"
                )
                document.initArray((0, rows.shape[1]), np.float64)
            array = document.getArray()
            if rows.shape[1] != array.shape[1]:
                raise TransformError(
                    f"rows of {rows.shape[1]} values cannot extend {reference!r} "
                    f"of {array.shape[1]} columns"
                )
            array.append(rows)
        position += cut + 1
        consumed += cut + 1
    if document is not None:
        document.reindexObject()
    return consumed

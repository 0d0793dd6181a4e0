"""Exactly-once ingestion: the request ids that already appended to a tag.

A client that did not get an answer (a worker killed after its commit, a lost connection)
cannot know whether its append was applied. It retries with the same request id
(``Idempotency-Key`` header or ``request_id`` parameter); the policy records each applied
id in the transaction that appends, so the record and the data commit or abort together
and a replay is a no-op. The record is bounded: the last :data:`REMEMBERED` ids per tag.
"""

from __future__ import annotations

import re
from typing import Any

from BTrees.IOBTree import IOBTree
from BTrees.OOBTree import OOBTree
from persistent import Persistent

from ..errors import InvalidInputError

#: Ids remembered per tag: a replay that comes after this many later appends re-appends.
REMEMBERED = 10_000
HEADER = "Idempotency-Key"
PARAMETER = "request_id"
_VALID = re.compile(r"[A-Za-z0-9._:~+/=-]{1,128}\Z")


def request_id_of(request: Any) -> str | None:
    """The client's request id (header first, then parameter), validated; None if absent."""
    value = request.getHeader(HEADER) if hasattr(request, "getHeader") else None
    if value is None:
        value = request.form.get(PARAMETER)
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not _VALID.match(value):
        raise InvalidInputError(
            f"{HEADER} (or {PARAMETER}) must be 1-128 characters of letters, digits and "
            f"._:~+/=-, got {str(value)[:80]!r}"
        )
    return value


class AppliedRequests(Persistent):
    """The last ``limit`` request ids applied to one tag, oldest dropped first."""

    def __init__(self, limit: int = REMEMBERED) -> None:
        self.limit = limit
        self._ids = OOBTree()  # request id -> sequence number
        self._order = IOBTree()  # sequence number -> request id
        self._first = 0  # the sequence numbers kept are range(_first, _next)
        self._next = 0

    def __contains__(self, request_id: str) -> bool:
        return request_id in self._ids

    def __len__(self) -> int:
        return self._next - self._first

    def add(self, request_id: str) -> None:
        """Remember ``request_id`` (not yet present), forgetting the oldest beyond the limit."""
        if request_id in self._ids:
            return
        self._ids[request_id] = self._next
        self._order[self._next] = request_id
        self._next += 1
        while self._next - self._first > self.limit:
            oldest = self._order.pop(self._first)
            if self._ids.get(oldest) == self._first:
                del self._ids[oldest]
            self._first += 1

"""HTTP helpers for documents with large bodies: byte ranges and block-by-block bodies."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from zope.interface import implementer
from ZPublisher.Iterators import IStreamIterator

_RANGE_RE = re.compile(r"^bytes=(\d*)-(\d*)$")
_CONTENT_RANGE_RE = re.compile(r"^bytes (\d+)-(\d+)/(\d+|\*)$")


class RangeNotSatisfiable(Exception):
    """The requested range lies outside the resource."""


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """``(start, end)`` (end exclusive) for a single-range ``Range`` header, else None.

    Multi-range or malformed headers are ignored (the full body is sent, as RFC 9110
    allows); a range past the end raises :class:`RangeNotSatisfiable`.
    """
    if not header:
        return None
    match = _RANGE_RE.match(header.strip())
    if not match or match.groups() == ("", ""):
        return None
    first, last = match.groups()
    if first == "":
        start, end = max(0, size - int(last)), size
    else:
        start = int(first)
        end = size if last == "" else min(size, int(last) + 1)
    if start >= size or start >= end:
        raise RangeNotSatisfiable(f"bytes {first}-{last} outside {size} bytes")
    return start, end


def parse_content_range(header: str) -> tuple[int, int]:
    """``(start, end)`` (end exclusive) of a ``Content-Range: bytes a-b/total`` header."""
    match = _CONTENT_RANGE_RE.match(header.strip())
    if not match:
        raise ValueError(f"malformed Content-Range header: {header!r}")
    start, last, total = int(match.group(1)), int(match.group(2)), match.group(3)
    if last < start:
        raise ValueError(f"Content-Range {header!r} ends before it starts")
    if total != "*" and int(total) != last + 1:
        raise ValueError(f"Content-Range {header!r}: an append must end at the total size")
    return start, last + 1


@implementer(IStreamIterator)
class ChunkIterator:
    """A response body produced chunk by chunk, with a known length."""

    def __init__(self, chunks: Iterable[bytes], length: int) -> None:
        self._chunks = iter(chunks)
        self._length = length

    def __iter__(self):
        return self

    def __next__(self) -> bytes:
        return next(self._chunks)

    def __len__(self) -> int:
        return self._length


def read_blocks(source: Any, block: int = 1 << 20) -> Iterator[bytes]:
    """A seekable file's content from its start, ``block`` bytes at a time."""
    source.seek(0)
    while data := source.read(block):
        yield data


def copy_blocks(source: Any, write: Callable[[bytes], Any], block: int = 1 << 20) -> int:
    """Feed a seekable file to ``write`` block by block from its start; return the byte count."""
    total = 0
    for data in read_blocks(source, block):
        write(data)
        total += len(data)
    return total


def copy_request_body(request, write, block: int = 1 << 20) -> int:
    """Feed the request body to ``write`` block by block; return the byte count."""
    body = request.get("BODYFILE")
    return 0 if body is None else copy_blocks(body, write, block)

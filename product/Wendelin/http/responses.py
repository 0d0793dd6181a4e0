"""HTTP answers of documents with large bodies: byte ranges, inert serving, PUT bodies.

Used by the handlers of this package only: a single ``Range`` (206, 416), the headers
that keep stored bytes inert (nosniff, sandbox CSP, attachment unless the type is
known safe), a body streamed block by block, ``Content-Range`` of appending PUTs.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import quote

from zope.interface import implementer
from ZPublisher.Iterators import IStreamIterator

from ..document.content import media_type
from ..errors import InvalidInputError, RangeNotSatisfiableError

#: At most this many digits are read from a Range position; longer ones stand for
#: "beyond any size" (``int()`` of thousands of digits is slow and refused by Python).
_MAX_DIGITS = 18
_BEYOND = 10**_MAX_DIGITS
_RANGE_RE = re.compile(r"^bytes=(\d*)-(\d*)$")
_CONTENT_RANGE_RE = re.compile(r"^bytes (\d{1,18})-(\d{1,18})/(\d{1,18}|\*)$")

#: Types a browser may render in place: none of them runs script. Everything else
#: (text/html, image/svg+xml, XML, PDF...) is served as a download.
INLINE_TYPES = frozenset({
    "image/png", "image/jpeg", "image/gif", "image/webp",
    "text/plain", "application/octet-stream",
})
INLINE_PREFIXES = ("audio/", "video/")


class RangeNotSatisfiable(RangeNotSatisfiableError):
    """The requested range lies outside the resource (416); ``size`` is the resource's."""

    def __init__(self, message: str, size: int) -> None:
        super().__init__(message)
        self.size = size


def _position(digits: str) -> int:
    """A Range position; absurdly long numbers count as beyond any resource."""
    digits = digits.lstrip("0") or "0"
    return _BEYOND if len(digits) > _MAX_DIGITS else int(digits)


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """``(start, end)`` (end exclusive) for a single-range ``Range`` header, else None.

    Multi-range or malformed headers are ignored (the full body is sent, as RFC 9110
    allows); a range past the end raises :class:`RangeNotSatisfiable` (416).
    """
    if not header:
        return None
    match = _RANGE_RE.match(header.strip())
    if not match or match.groups() == ("", ""):
        return None
    first, last = match.groups()
    if first != "" and last != "" and _position(last) < _position(first):
        return None  # an invalid range (last before first) is ignored, as RFC 9110 says
    if first == "":
        start, end = max(0, size - _position(last)), size
    else:
        start = _position(first)
        end = size if last == "" else min(size, _position(last) + 1)
    if start >= size or start >= end:
        raise RangeNotSatisfiable(
            f"bytes {first[:20]}-{last[:20]} outside the {size} bytes of the resource", size
        )
    return start, end



def is_inline(content_type: str) -> bool:
    """Whether bytes of this type may be shown in place (they cannot run script)."""
    kind = media_type(content_type)
    return kind in INLINE_TYPES or kind.startswith(INLINE_PREFIXES)


def content_disposition(disposition: str, filename: str) -> str:
    """A ``Content-Disposition`` value whose filename is safe (RFC 6266, RFC 5987).

    A plain ASCII name goes in ``filename="..."``; any other gets an ASCII fallback
    there and the exact name percent-encoded in ``filename*=UTF-8''...``.
    """
    fallback = "".join(
        c if " " <= c <= "~" and c not in '"\\%;' else "_" for c in filename
    ) or "download"
    value = f'{disposition}; filename="{fallback}"'
    if fallback != filename:
        value += "; filename*=UTF-8''" + quote(filename, safe="!#$&+-.^_`|~")
    return value


def ranged_answer(request: Any, response: Any, length: int,
                  body: Callable[[int, int], Iterable[bytes]], content_type: str,
                  filename: str, attachment: bool = False) -> Any:
    """The one raw-bytes answer of ``length`` bytes (Data Stream, Data Array): inert
    headers, a single ``Range`` (206, or 416 naming the size), HEAD without a body, then
    ``body(start, end)``'s chunks."""
    serve_inert(response, content_type, filename, attachment=attachment)
    response.setHeader("Accept-Ranges", "bytes")
    try:
        selected = parse_range(request.get_header("Range"), length)
    except RangeNotSatisfiable as error:
        response.setHeader("Content-Range", f"bytes */{error.size}")
        raise
    start, end = selected or (0, length)
    if selected:
        response.setStatus(206)
        response.setHeader("Content-Range", f"bytes {start}-{end - 1}/{length}")
    response.setHeader("Content-Length", str(end - start))
    if request.get("REQUEST_METHOD") == "HEAD" or end == start:
        return b""
    return ChunkIterator(body(start, end), end - start)


def serve_inert(response: Any, content_type: str, filename: str,
                attachment: bool = False) -> None:
    """Headers of every raw-bytes answer (Data Stream, Data Array, Image).

    The bytes can never run as a page of the site: no sniffing, a sandbox CSP, and a
    download (``attachment``) for any type outside :data:`INLINE_TYPES`.
    """
    if not content_type or "\r" in content_type or "\n" in content_type:
        content_type = "application/octet-stream"
    inline = is_inline(content_type) and not attachment
    response.setHeader("Content-Type", content_type)
    response.setHeader("X-Content-Type-Options", "nosniff")
    response.setHeader("Content-Security-Policy", "sandbox")
    response.setHeader(
        "Content-Disposition", content_disposition("inline" if inline else "attachment", filename)
    )


#: Set in the request environment when a PUT came without a Content-Type.
DEFAULTED_BODY_TYPE = "wendelin.body_type_defaulted"


def default_body_type(request: Any) -> None:
    """A PUT without ``Content-Type`` (``curl -T``) carries raw bytes, not a form.

    Zope would otherwise parse the body as form fields (a 400 on binary data, or on
    bodies over the form memory limit). Call before the request's inputs are processed.
    """
    environ = request.environ
    if environ.get("REQUEST_METHOD", "").upper() == "PUT" and not environ.get("CONTENT_TYPE"):
        environ["CONTENT_TYPE"] = "application/octet-stream"
        environ[DEFAULTED_BODY_TYPE] = True


def parse_content_range(header: str) -> tuple[int, int]:
    """``(start, end)`` (end exclusive) of a ``Content-Range: bytes a-b/total`` header."""
    match = _CONTENT_RANGE_RE.match(header.strip())
    if not match:
        raise InvalidInputError(f"malformed Content-Range header: {header[:80]!r}")
    start, last, total = int(match.group(1)), int(match.group(2)), match.group(3)
    if last < start:
        raise InvalidInputError(f"Content-Range {header!r} ends before it starts")
    if total != "*" and int(total) != last + 1:
        raise InvalidInputError(
            f"Content-Range {header!r}: an append must end at the total size"
        )
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

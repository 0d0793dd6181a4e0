"""Bytes of documents: content types checked, and bodies copied block by block."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

from ..errors import InvalidInputError

#: A content type is ``type/subtype`` of RFC 9110 tokens with optional ``; name=value``
#: parameters (token or quoted string), bounded in length; no CR/LF can get through.
MAX_CONTENT_TYPE = 200
_TOKEN = r"[A-Za-z0-9!#$%&'*+.^_`|~-]+"
_CONTENT_TYPE_RE = re.compile(
    rf"{_TOKEN}/{_TOKEN}(?:[ \t]*;[ \t]*{_TOKEN}=(?:{_TOKEN}|\"[^\"\\\x00-\x1f\x7f]*\"))*"
)



def check_content_type(value: str) -> str:
    """``value`` if it is a well-formed ``type/subtype[; params]``, else InvalidInputError.

    Applied to every content type a user sets (JSON API, ``edit``, uploads, PUT), so
    no header injection or junk reaches a response's ``Content-Type``.
    """
    if not isinstance(value, str):
        raise InvalidInputError(f"content_type must be a string, got {type(value).__name__}")
    if len(value) > MAX_CONTENT_TYPE:
        raise InvalidInputError(
            f"content_type is {len(value)} characters long, at most {MAX_CONTENT_TYPE}"
        )
    if not _CONTENT_TYPE_RE.fullmatch(value):
        raise InvalidInputError(
            f"content_type {value[:80]!r} is not a media type like 'audio/wav' or "
            "'text/plain; charset=utf-8'"
        )
    return value


def media_type(content_type: str) -> str:
    """The lower-case ``type/subtype`` of a content type, without parameters."""
    return content_type.split(";", 1)[0].strip().lower()



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

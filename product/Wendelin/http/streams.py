"""GET, HEAD and PUT of a Data Stream's URL.

GET streams the bytes from the blob files, inert, with a single byte ``Range`` (206);
HEAD gives the size. PUT replaces the content (its ``Content-Type`` becomes the
stream's, validated; without one, as ``curl -T`` sends, the stream keeps its type), or
appends with ``Content-Range: bytes a-b/*`` where ``a`` is the current size. A body in
the blob directory (waitress's own buffer of a large or chunked PUT, named by the WSGI
layer) is adopted as it is, another one copied block by block after a free-disk check.
"""

from __future__ import annotations

import os
from typing import Any

from ..document.content import copy_request_body
from ..errors import InvalidInputError, RangeNotSatisfiableError
from ..inputs import check_free_disk
from ..uploads_wsgi import SPOOLED_BODY, spool_directory
from .responses import DEFAULTED_BODY_TYPE, parse_content_range, ranged_answer


class StreamAnswer:
    """GET and HEAD: the stream's bytes or size."""

    def __init__(self, stream: Any, request: Any) -> None:
        self.stream = stream
        self.request = request

    def __call__(self) -> Any:
        size, body = self.stream.streamBody()
        return ranged_answer(self.request, self.request.response, size, body,
                             self.stream.content_type,
                             self.stream.getReference() or self.stream.getId())


class StreamPut(StreamAnswer):
    """PUT: replace, or append at the current size (``Content-Range``); 204."""

    def __call__(self) -> Any:
        request, stream = self.request, self.stream
        content_range = request.get_header("Content-Range")
        if content_range:
            start, end = parse_content_range(content_range)
            announced = request.get_header("Content-Length")
            if announced is not None and announced.strip() != str(end - start):
                raise InvalidInputError(
                    f"Content-Range {content_range!r} announces {end - start} bytes, "
                    f"Content-Length is {announced[:40]}"
                )
            size = stream.getSize()
            if start != size:
                raise RangeNotSatisfiableError(f"append must start at {size}, not {start}")
            written = self._append_body()
            if written != end - start:
                # Raising aborts the transaction: the bytes already appended go away.
                raise InvalidInputError(
                    f"Content-Range {content_range!r} announces {end - start} bytes, "
                    f"the body has {written}"
                )
        else:
            body_type = request.get_header("Content-Type")
            stream.replaceWith(None if request.environ.get(DEFAULTED_BODY_TYPE) else body_type)
            self._append_body()
        stream.reindexData()
        request.response.setStatus(204)
        return b""

    def _append_body(self) -> int:
        spooled = self.request.environ.get(SPOOLED_BODY)
        if spooled is not None and os.path.exists(spooled.path):
            return self.stream.appendSpooledFile(spooled.path, spooled.size)
        directory = spool_directory()
        if directory is not None:  # the blob disk keeps its free share (413 otherwise)
            announced = self.request.get_header("Content-Length") or "0"
            check_free_disk(directory, int(announced) if announced.isdigit() else 0, "a PUT")
        return self.stream.appendBlocks(lambda write: copy_request_body(self.request, write))

"""GET and HEAD of an Image's URL: the picture with its type, inert, or 404 without one."""

from __future__ import annotations

from typing import Any

from zExceptions import NotFound

from .responses import serve_inert


class ImageAnswer:
    """The stored picture (served inert: nosniff, sandbox CSP, attachment unless safe)."""

    def __init__(self, document: Any, request: Any) -> None:
        self.document = document
        self.request = request

    def __call__(self) -> Any:
        document, response = self.document, self.request.response
        if not document.hasData():
            raise NotFound(f"Image {document.getId()!r} has no picture yet")
        serve_inert(response, document.getContentType(),
                    document.getReference() or document.getId())
        response.setHeader("Content-Length", str(document.getSize()))
        if self.request.get("REQUEST_METHOD") == "HEAD":
            return b""
        return document.getData()

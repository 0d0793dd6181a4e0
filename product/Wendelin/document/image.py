"""Image: a picture such as a saved plot; bytes in a blob, served at its URL."""

from __future__ import annotations

import io

from AccessControl.class_init import InitializeClass
from AccessControl.SecurityInfo import ClassSecurityInfo
from ZODB.blob import Blob
from ZPublisher import zpublish

from ..errors import WendelinError
from ..permissions import ModifyPortalContent, View
from .base import WendelinDocument, http_answer
from .content import check_content_type

FORMAT_TYPES = {"PNG": "image/png", "JPEG": "image/jpeg", "GIF": "image/gif", "WEBP": "image/webp"}


class ImageFormatError(WendelinError, ValueError):
    """Bytes that are not a picture Pillow can read."""


def inspect_image(data: bytes) -> tuple[str, int, int]:
    """``(content type, width, height)`` of picture bytes; raise ImageFormatError otherwise."""
    from PIL import Image as PILImage
    from PIL import UnidentifiedImageError

    try:
        with PILImage.open(io.BytesIO(data)) as picture:
            picture.verify()
            kind, (width, height) = picture.format, picture.size
    except (UnidentifiedImageError, OSError, SyntaxError) as error:
        raise ImageFormatError(f"not a readable image ({len(data)} bytes): {error}") from None
    if kind not in FORMAT_TYPES:
        raise ImageFormatError(f"unsupported image format {kind!r} (PNG, JPEG, GIF, WEBP)")
    return FORMAT_TYPES[kind], width, height


class Image(WendelinDocument):
    """A picture with its content type and dimensions, read from the bytes by Pillow."""

    meta_type = "Wendelin Image"
    portal_type = "Image"
    security = ClassSecurityInfo()
    property_types = {**WendelinDocument.property_types, "content_type": str}
    property_checks = {**WendelinDocument.property_checks, "content_type": check_content_type}
    content_type = "image/png"
    width = 0
    height = 0
    _data: Blob | None = None
    _size = 0

    @security.protected(ModifyPortalContent)
    @zpublish(False)
    def setData(self, data: bytes) -> None:
        """Store picture bytes; their type and size come from the bytes themselves."""
        data = bytes(data)
        self.content_type, self.width, self.height = inspect_image(data)
        if self._data is None:
            self._data = Blob()
        with self._data.open("w") as file:
            file.write(data)
        self._size = len(data)
        self.reindexObject()

    @security.protected(View)
    @zpublish(False)
    def getData(self) -> bytes:
        """The picture's bytes (b'' before ``setData``)."""
        if self._data is None:
            return b""
        with self._data.open("r") as file:
            return file.read()

    @security.protected(View)
    def getSize(self) -> int:
        return self._size

    @security.protected(View)
    def getWidth(self) -> int:
        return self.width

    @security.protected(View)
    def getHeight(self) -> int:
        return self.height

    @security.protected(View)
    def getContentType(self) -> str:
        return self.content_type

    @security.protected(View)
    def hasData(self) -> bool:
        """Whether a picture was stored."""
        return self._data is not None

    @security.protected(View)
    def index_html(self, REQUEST, RESPONSE):
        """The picture with its content type, inert (the edge's handler, ``http/images.py``)."""
        return http_answer(self, REQUEST)

    @security.protected(View)
    def HEAD(self, REQUEST, RESPONSE):
        """The picture's size and type, without the bytes."""
        return http_answer(self, REQUEST)


InitializeClass(Image)

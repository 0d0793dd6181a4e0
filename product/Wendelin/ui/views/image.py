"""The Image page: the stored picture, served inert."""

from __future__ import annotations

from typing import Any

from AccessControl.class_init import InitializeClass
from AccessControl.SecurityInfo import ClassSecurityInfo
from Acquisition import aq_base

from ...permissions import View
from .base import (
    BaseView,
)


class ImageView(BaseView):
    """An Image: the picture, its dimensions and a download link when it has bytes."""

    security = ClassSecurityInfo()
    template = "Image_view"

    @security.protected(View)
    def image(self) -> dict[str, Any]:
        """The picture's facts; stored bytes arrive with the analysis work."""
        doc = self.context
        base = aq_base(doc)

        def call(name: str) -> Any:
            method = getattr(base, name, None)
            return getattr(doc, name)() if callable(method) else None

        width, height = call("getWidth"), call("getHeight")
        has_data = bool(doc.getSize()) or bool(width)
        return {
            "has_data": has_data,
            "src": doc.absolute_url() + "/index_html" if has_data else "",
            "width": width or "",
            "height": height or "",
            "content_type": getattr(base, "content_type", "") or "",
        }


InitializeClass(ImageView)

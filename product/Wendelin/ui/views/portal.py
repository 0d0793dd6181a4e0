"""The front page: the modules with their counts, and recent documents."""

from __future__ import annotations

from typing import Any

from AccessControl.class_init import InitializeClass
from AccessControl.SecurityInfo import ClassSecurityInfo

from ...permissions import View
from .. import listing
from .base import (
    BaseView,
    _message,
)


class PortalView(BaseView):
    """The start page: the modules with their counts and the recent documents."""

    security = ClassSecurityInfo()
    template = "ERP5Site_view"

    @security.protected(View)
    def start(self) -> dict[str, Any]:
        """Modules (catalog-free counts) and recently modified documents."""
        portal = self.context.getPortalObject()
        modules = [
            {
                "id": module.getId(),
                "title": module.getTitle(),
                "url": module.absolute_url(),
                "count": module.getDocumentCount(),
                "portal_type": (module.getAllowedPortalTypeList() or [""])[0],
            }
            for module in portal.getModuleList()
        ]
        return {
            "modules": modules,
            "recent": listing.recent_documents(portal),
            "message": _message(self.request),
        }


InitializeClass(PortalView)

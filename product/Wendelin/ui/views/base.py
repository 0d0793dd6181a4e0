"""What every page's view shares: the document's facts, the edit form, JSON and PNG answers."""

from __future__ import annotations

import json
from typing import Any

from AccessControl.class_init import InitializeClass
from AccessControl.SecurityInfo import ClassSecurityInfo
from AccessControl.SecurityManagement import getSecurityManager
from Acquisition import Implicit, aq_base, aq_inner, aq_parent
from zExceptions import BadRequest

from ...humanize import human_date, human_size, iso_date
from ...permissions import ModifyPortalContent, View
from ...site.users import (
    check_csrf,
    csrf_token,
    require_post,
)
from ..chrome import _message

EDITABLE = ("title", "reference", "description")
RUNS_SHOWN = 10
MAX_FIELD = 2000


def _json(request: Any, data: dict[str, Any], status: int = 200) -> str:
    response = request.response
    response.setStatus(status)
    response.setHeader("Content-Type", "application/json")
    return json.dumps(data)


def _wants_json(request: Any) -> bool:
    return "application/json" in (request.get_header("Accept") or "")


def _png(request: Any, data: bytes, hit: bool) -> bytes:
    response = request.response
    response.setHeader("Content-Type", "image/png")
    response.setHeader("Cache-Control", "private, max-age=3600")
    response.setHeader("X-Wendelin-Cache", "hit" if hit else "miss")
    return data


class BaseView(Implicit):
    """A document's page: its common facts and the edit form."""

    security = ClassSecurityInfo()
    template = "Base_view"

    def __init__(self, context: Any, request: Any) -> None:
        # Kept in tuples: acquisition would otherwise rewrap them in the view.
        self._context = (context,)
        self._request = (request,)

    @property
    def context(self) -> Any:
        """The object the page is about, in its own acquisition context."""
        return self._context[0]

    @property
    def request(self) -> Any:
        return self._request[0]

    def _can(self, permission: str) -> bool:
        return bool(getSecurityManager().checkPermission(permission, self.context))

    @security.protected(View)
    def document(self) -> dict[str, Any]:
        """The facts every document page shows."""
        doc = self.context
        created, modified = doc.getCreationDate(), doc.getModificationDate()
        module = aq_parent(aq_inner(doc))  # the container, not the view that wraps it
        return {
            "id": doc.getId(),
            "title": doc.getTitle() or doc.getId(),
            "raw_title": doc.getTitle(),
            "reference": doc.getReference(),
            "description": doc.getDescription(),
            "portal_type": doc.getPortalType(),
            "size": human_size(doc.getSize()),
            "size_bytes": doc.getSize(),
            "created": human_date(created),
            "created_iso": iso_date(created),
            "modified": human_date(modified),
            "modified_iso": iso_date(modified),
            "owner": doc.Creator(),
            "url": doc.absolute_url(),
            # the module's own title: ``getTitle`` is not a module method, and acquiring
            # it through the document would give the document's title
            "module_title": getattr(aq_base(module), "title", "") or module.getId(),
            "module_url": module.absolute_url(),
            "can_edit": self._can(ModifyPortalContent),
            "csrf": csrf_token(doc, self.request),
            "message": _message(self.request),
        }

    @security.protected(ModifyPortalContent)
    def edit(self) -> str:
        """Save title, reference and description from the edit form; 303 back to the page."""
        request = self.request
        require_post(request)
        check_csrf(self.context, request)
        values = {}
        for name in EDITABLE:
            if name not in request.form:
                continue  # a field the form did not send keeps its value
            value = request.form[name]
            if not isinstance(value, str):
                raise BadRequest(f"{name} must be text")
            values[name] = value.strip()[:MAX_FIELD] if name != "description" else value[
                :MAX_FIELD
            ]
        self.context.edit(**values)
        request.response.redirect(f"{self.context.absolute_url()}/view?status=saved", status=303)
        return ""


InitializeClass(BaseView)

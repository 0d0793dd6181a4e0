"""A module's page: the listing with search, sort and paging, upload, delete."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from AccessControl import Unauthorized
from AccessControl.class_init import InitializeClass
from AccessControl.SecurityInfo import ClassSecurityInfo
from AccessControl.SecurityManagement import getSecurityManager
from zExceptions import BadRequest

from ...humanize import human_size
from ...permissions import AddPortalContent, DeleteObjects, View
from ...site.users import (
    check_csrf,
    csrf_token,
    require_post,
)
from .. import listing, upload
from .base import (
    BaseView,
    _json,
    _message,
    _wants_json,
)


class ModuleView(BaseView):
    """A module: the catalog listing, deletion with confirmation, uploads for streams."""

    security = ClassSecurityInfo()
    template = "Module_view"

    @security.protected(View)
    def module(self) -> dict[str, Any]:
        """The module's facts and what the visitor may do in it."""
        module = self.context
        types = module.getAllowedPortalTypeList()
        return {
            "id": module.getId(),
            "title": module.getTitle(),
            "url": module.absolute_url(),
            "portal_type": types[0] if types else "",
            "count": module.getDocumentCount(),
            "can_delete": self._can(DeleteObjects),
            "can_upload": "Data Stream" in types and self._can(AddPortalContent),
            "csrf": csrf_token(module, self.request),
            "message": _message(self.request),
        }

    @security.protected(View)
    def listing(self) -> dict[str, Any]:
        """One page of the catalog listing for the request's search, sort and page."""
        params = listing.ListingParams.from_form(self.request.form)
        return listing.listing_page(self.context, params)

    def _selected(self) -> list[str]:
        ids = self.request.form.get("ids", [])
        if isinstance(ids, str):
            ids = [ids]
        module = self.context
        return [i for i in ids if isinstance(i, str) and module._getOb(i, None) is not None]

    @security.protected(DeleteObjects)
    def deleteSelected(self) -> str:
        """First POST: the confirmation page; POST with ``confirm``: delete, 303 to listing."""
        request = self.request
        require_post(request)
        check_csrf(self.context, request)
        ids = self._selected()
        module = self.context
        if not ids:
            request.response.redirect(
                f"{module.absolute_url()}/view?status=nothing-selected", status=303
            )
            return ""
        if not request.form.get("confirm"):
            return module.Module_viewDeleteDialog(
                documents=[self._describe(i) for i in ids], ids=ids
            )
        for document_id in ids:
            if not getSecurityManager().checkPermission(DeleteObjects, module[document_id]):
                raise Unauthorized(f"you may not delete {document_id!r}")
        module.manage_delObjects(ids)
        request.response.redirect(f"{module.absolute_url()}/view?status=deleted", status=303)
        return ""

    def _describe(self, document_id: str) -> dict[str, str]:
        document = self.context[document_id]
        return {
            "id": document_id,
            "title": document.getTitle(),
            "reference": document.getReference(),
            "size": human_size(document.getSize()),
        }

    @security.protected(AddPortalContent)
    def upload(self) -> str:
        """Store uploaded files as Data Streams: JSON 201 for scripts, 303 for browsers."""
        request = self.request
        require_post(request)
        check_csrf(self.context, request)
        module = self.context
        if "Data Stream" not in module.getAllowedPortalTypeList():
            raise BadRequest(f"{module.getId()!r} does not hold Data Streams")
        files = request.form.get("file")
        files = files if isinstance(files, list) else [files]
        files = [f for f in files if upload.is_file(f)]
        reference = request.form.get("reference", "")
        title = request.form.get("title", "")
        replace = bool(request.form.get("replace"))
        reference = reference if isinstance(reference, str) else ""
        title = title if isinstance(title, str) else ""
        if len(files) > 1:
            reference = ""
        stored = []
        try:
            if not files:
                raise upload.UploadError("No file was sent: choose a file to upload.")
            for item in files:
                stored.append(upload.store_upload(module, item, reference, title, replace))
        except upload.UploadError as exc:
            request.response.setStatus(exc.status)
            if _wants_json(request):
                return _json(request, {"error": str(exc)}, exc.status)
            return module.Base_viewMessage(
                title="Upload failed", message=str(exc), back_url=f"{module.absolute_url()}/view"
            )
        if _wants_json(request):
            first = stored[0]
            request.response.setHeader("Location", first.stream.absolute_url())
            body = first.as_dict() if len(stored) == 1 else {
                **first.as_dict(), "documents": [item.as_dict() for item in stored]
            }
            return _json(request, body, 201)
        target = stored[0].stream.absolute_url() + "/view" if len(stored) == 1 else (
            module.absolute_url() + "/view"
        )
        warnings = [item.warning for item in stored if item.warning]
        query = {"status": "uploaded"}
        if warnings:
            query["warning"] = "1"
        request.response.redirect(f"{target}?{urlencode(query)}", status=303)
        return ""


InitializeClass(ModuleView)

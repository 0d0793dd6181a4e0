"""The views behind the pages: what each page shows and what each form does.

Skin scripts call :func:`getView` and page templates read plain dicts from the
view's methods; every method is protected by a Wendelin permission, checked in the
context of the document, so a page shows only what the visitor may see and a form
does only what the visitor may do. State changes need POST and a CSRF token.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from AccessControl import Unauthorized
from AccessControl.class_init import InitializeClass
from AccessControl.SecurityInfo import ClassSecurityInfo
from AccessControl.SecurityManagement import getSecurityManager
from Acquisition import Implicit, aq_base, aq_inner, aq_parent
from Products.PageTemplates.PageTemplateFile import PageTemplateFile
from zExceptions import BadRequest

from ..humanize import human_date, human_duration, human_size, iso_date
from ..permissions import AddPortalContent, DeleteObjects, ModifyPortalContent, View
from ..site.users import (
    SESSION_COOKIE,
    check_csrf,
    csrf_token,
    require_post,
    safe_came_from,
    user_folder,
)
from . import arrays, audio, cache, listing, notebook, upload

#: Short status codes passed in redirects, and what the page says for them.
MESSAGES = {
    "saved": ("success", "Changes saved."),
    "deleted": ("success", "The selected documents were deleted."),
    "uploaded": ("success", "Upload complete."),
    "nothing-selected": ("warning", "Select at least one document first."),
    "logged-out": ("success", "You are logged out."),
    "run-succeeded": ("success", "The operation ran; its outputs are listed below."),
    "run-failed": ("warning", "The operation failed; its work was rolled back (see the runs)."),
}
EDITABLE = ("title", "reference", "description")
RUNS_SHOWN = 10
MAX_FIELD = 2000


def _message(request: Any) -> dict[str, str]:
    code = request.form.get("status", "")
    kind, text = MESSAGES.get(code, ("", "")) if isinstance(code, str) else ("", "")
    return {"kind": kind, "text": text}


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


class DataStreamView(BaseView):
    """A Data Stream: size, type, download; for audio the facts, a player and a waveform."""

    security = ClassSecurityInfo()
    template = "DataStream_view"

    @security.protected(View)
    def stream(self) -> dict[str, Any]:
        """What the stream page shows beyond the common facts."""
        doc = self.context
        url = doc.absolute_url()
        facts: dict[str, Any] = {
            "content_type": doc.content_type or "application/octet-stream",
            "download_url": url,
            "audio": None,
            "audio_error": "",
        }
        if doc.getSize():
            try:
                info = audio.audio_info(doc)
            except audio.AudioError as exc:
                facts["audio_error"] = str(exc)
            else:
                details = info.as_dict()
                details["duration_text"] = human_duration(info.duration)
                details["player_type"] = (
                    doc.content_type if doc.content_type.startswith("audio/") else "audio/wav"
                )
                facts["audio"] = details
                facts["waveform_url"] = f"{url}/DataStream_viewWaveform"
        return facts

    @security.protected(View)
    def waveform(self) -> bytes:
        """The cached waveform PNG (404 for streams that are not audio)."""
        doc = self.context
        key = cache.content_key(doc, "waveform", 1000, 160)
        try:
            data, hit = cache.cached(key, lambda: audio.waveform_png(doc, 1000, 160))
        except audio.AudioError as exc:
            self.request.response.setStatus(404)
            self.request.response.setHeader("Content-Type", "text/plain")
            return f"no waveform: {exc}".encode()
        return _png(self.request, data, hit)


InitializeClass(DataStreamView)


class DataArrayView(BaseView):
    """A Data Array or Data Array Line: shape, dtype, the first rows, a decimated plot,
    ``.npy`` download; an array's lines, a line's parent and index expression."""

    security = ClassSecurityInfo()
    template = "DataArray_view"

    @security.protected(View)
    def array(self) -> dict[str, Any]:
        """Facts, first rows, plot link, download link (raw even for a browser), lines."""
        doc = self.context
        try:
            info, problem = arrays.array_info(doc), ""
        except ValueError as exc:  # a line whose index no longer fits its parent
            info, problem = {}, str(exc)
        url = doc.absolute_url()
        kind = arrays.plot_kind(doc) if info else ""
        return {
            "info": info,
            "problem": problem,
            "rows": arrays.first_rows(doc) if info else {"header": [], "rows": []},
            "plot_url": f"{url}/DataArray_viewPlot" if kind else "",
            "plot_kind": kind,
            # a browser following the document URL gets the page: the link says "the file"
            "npy_url": f"{url}?format=npy" if info else "",
            "lines": arrays.line_list(doc, self._can_view),
            "parent": arrays.parent_info(doc),
        }

    def _can_view(self, document: Any) -> bool:
        return bool(getSecurityManager().checkPermission(View, document))

    @security.protected(View)
    def plot(self) -> bytes:
        """The cached plot PNG (404 when the array cannot be plotted)."""
        doc = self.context
        if not arrays.plot_kind(doc):
            self.request.response.setStatus(404)
            self.request.response.setHeader("Content-Type", "text/plain")
            return b"this array cannot be plotted"
        parent = arrays.parent_info(doc)
        # a line shows its parent's data: the parent's state is part of the key
        extra = cache.content_key(doc.getParentDataArray(), "parent") if parent else ()
        key = cache.content_key(doc, "plot", arrays.PLOT_WIDTH, *extra)
        data, hit = cache.cached(key, lambda: arrays.plot_png(doc))
        return _png(self.request, data, hit)


InitializeClass(DataArrayView)


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


class DataNotebookView(BaseView):
    """A Data Notebook: its cells with sanitised outputs and the "Open in Jupyter" link."""

    security = ClassSecurityInfo()
    template = "DataNotebook_view"

    @security.protected(View)
    def notebook(self) -> dict[str, Any]:
        """Cells (outputs already sanitised HTML) and the Jupyter URL."""
        doc = self.context
        reference = doc.getReference() or doc.getId()
        return {
            "cells": notebook.notebook_cells(doc),
            "jupyter_url": notebook.jupyter_url(reference, self.request.get("SERVER_URL", "")),
        }


InitializeClass(DataNotebookView)


class DataOperationView(BaseView):
    """A Data Operation: the script it runs, its parameters and types."""

    security = ClassSecurityInfo()
    template = "DataOperation_view"

    @security.protected(View)
    def operation(self) -> dict[str, Any]:
        """What the operation runs, with its parameters as sorted rows."""
        doc = self.context
        parameters = doc.getParameterDict()
        return {
            "script_id": doc.getScriptId(),
            "parameters": [
                {"name": str(name), "value": json.dumps(value, default=repr)}
                for name, value in sorted(parameters.items(), key=lambda item: str(item[0]))
            ],
            "input_portal_type": getattr(doc, "input_portal_type", ""),
            "output_portal_type": getattr(doc, "output_portal_type", ""),
            "can_run": callable(getattr(aq_base(doc), "execute", None))
            and self._can(ModifyPortalContent),
            "runs": [self._run_row(run) for run in doc.getRunList()[:RUNS_SHOWN]],
        }

    def _run_row(self, run: dict[str, Any]) -> dict[str, Any]:
        portal_url = self.context.getPortalObject().absolute_url()
        return {
            "run_id": run["run_id"],
            "status": run["status"],
            "user": run["user"],
            "start": run["start"],
            "duration": f"{run['duration']:.2f} s",
            "input": run["input"],
            "input_url": f"{portal_url}/{quote(run['input'])}/view",
            "outputs": [
                {"path": out, "url": f"{portal_url}/{quote(out)}/view"} for out in run["outputs"]
            ],
            "error": run["error"],
        }

    @security.protected(ModifyPortalContent)
    def run(self) -> str:
        """Run the operation on the input named in the form; 303 back with its status."""
        request = self.request
        require_post(request)
        check_csrf(self.context, request)
        form = request.form
        document = self.context.resolveRunInput(form.get("input", ""))
        parameters = self.context.parseRunParameters(form.get("parameters", ""))
        report = self.context.execute(document, **parameters)
        status = "run-succeeded" if report.status == "succeeded" else "run-failed"
        if _wants_json(request):
            return _json(request, {"status": report.status, "outputs": report.outputs,
                                   "error": report.error})
        request.response.redirect(
            f"{self.context.absolute_url()}/view?status={status}", status=303
        )
        return ""


InitializeClass(DataOperationView)


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

_VIEWS = {
    "Data Stream": DataStreamView,
    "Data Array": DataArrayView,
    "Data Array Line": DataArrayView,
    "Image": ImageView,
    "Data Notebook": DataNotebookView,
    "Data Operation": DataOperationView,
}


def getView(context: Any, request: Any) -> BaseView:
    """The view for ``context`` (portal, module or document), wrapped in its context."""
    portal = context.getPortalObject()
    if aq_base(context) is aq_base(portal):
        cls: type[BaseView] = PortalView
    elif getattr(aq_base(context), "meta_type", "") == "Wendelin Module":
        cls = ModuleView
    else:
        cls = _VIEWS.get(context.getPortalType(), BaseView)
    return cls(context, request).__of__(context)


#: Headers every page gets: no framing, no sniffing, scripts and styles from the portal only.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; media-src 'self'; style-src 'self'; "
        "script-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; "
        "frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}


def _set_security_headers(response: Any) -> None:
    """Send :data:`SECURITY_HEADERS` with a page (every page's frame and the error page)."""
    for name, value in SECURITY_HEADERS.items():
        response.setHeader(name, value)


_login_template = PageTemplateFile(str(Path(__file__).parent / "templates" / "login_form.pt"))
_error_template = PageTemplateFile(
    str(Path(__file__).parent / "templates" / "standard_error_message.pt")
)
ERROR_TITLES = {400: "Bad request", 401: "Not allowed", 403: "Not allowed", 404: "Page not found",
                409: "Conflict"}


def error_page(portal: Any, request: Any, error_type: str, error_value: str) -> str:
    """The site's error page: what went wrong in words, never a traceback.

    Rendered by trusted code: when a request fails, the visitor may no longer be
    allowed to see the object the error happened on."""
    _set_security_headers(request.response)
    status = request.response.getStatus()
    title = ERROR_TITLES.get(status, "Something went wrong" if status >= 500 else "Refused")
    page = {
        "title": title,
        "status": status,
        "portal_url": portal.absolute_url(),
        "url": request.get("ACTUAL_URL", "") or request.get("URL", ""),
        "missing": status == 404,
        "detail": str(error_value) if 400 <= status < 500 and status != 404 else "",
        "failed": status >= 500,
        "error_type": error_type,
    }
    return _error_template.__of__(portal)(page=page)


def _script_context(script: Any) -> tuple[Any, Any]:
    """The context a skin script was acquired from, and the request.

    Scripts anonymous visitors run (login page, chrome) pass themselves: the
    portal itself is not accessible to them in restricted code.
    """
    return aq_parent(script), script.REQUEST


def _current_user_name() -> str:
    user = getSecurityManager().getUser()
    name = user.getUserName() if user is not None else ""
    return "" if name == "Anonymous User" else name


def getChrome(script: Any) -> dict[str, Any]:
    """What every page's frame needs: who is logged in, the CSRF token, the navigation."""
    context, request = _script_context(script)
    portal = context.getPortalObject()
    _set_security_headers(request.response)
    name = _current_user_name()
    modules = []
    if name:
        modules = [
            {"title": module.getTitle(), "url": module.absolute_url(), "id": module.getId()}
            for module in portal.getModuleList()
            if getSecurityManager().checkPermission(View, module)
        ]
    return {
        "portal_url": portal.absolute_url(),
        "user": name,
        "logged_in": bool(name),
        "session": bool(request.cookies.get(SESSION_COOKIE)),
        "csrf": csrf_token(portal, request),
        "modules": modules,
        "current": request.get("ACTUAL_URL", ""),
    }


def renderLoginForm(script: Any, error: str = "") -> str:
    """The login page (rendered by trusted code: anonymous visitors cannot see the portal)."""
    context, request = _script_context(script)
    portal = context.getPortalObject()
    came_from = request.form.get("came_from", "")
    came_from = came_from if isinstance(came_from, str) else ""
    name = request.form.get("__ac_name", "")
    user = _current_user_name()
    page = {
        "came_from": safe_came_from(came_from, portal.absolute_url()),
        "message": _message(request),
        "error": error,
        "denied": bool(user) and bool(came_from),
        "user": user,
        "name": name if isinstance(name, str) else "",
        "csrf": csrf_token(portal, request),
        "action": portal.absolute_url() + "/ERP5Site_login",
    }
    template = _login_template.__of__(portal)
    # Bound names given directly: Zope's bindings would hide the portal from anonymous.
    names = {"context": portal, "here": portal, "container": portal, "template": template,
             "request": request, "options": {"page": page}}
    request.response.setHeader("Content-Type", "text/html; charset=utf-8")
    return template.pt_render(extra_context=names)


def login(script: Any) -> str:
    """Check the login form; open a session and 303 to ``came_from``, or show the error."""
    context, request = _script_context(script)
    require_post(request)
    portal = context.getPortalObject()
    folder = user_folder(portal)
    if folder is None:
        raise BadRequest("this site has no session support")
    folder.checkCsrf(request)
    name, password = request.form.get("__ac_name", ""), request.form.get("__ac_password", "")
    user = None
    if isinstance(name, str) and isinstance(password, str):
        user = folder.checkCredentials(name.strip(), password, request)
    if user is None:
        return renderLoginForm(script, error="Unknown user name or wrong password.")
    secure = request.get("SERVER_URL", "").startswith("https:")
    folder.openSession(user, request.response, secure=secure)
    came_from = request.form.get("came_from", "")
    target = safe_came_from(came_from if isinstance(came_from, str) else "", portal.absolute_url())
    request.response.redirect(target, status=303)
    return ""


def logout(script: Any) -> str:
    """End the session (POST with CSRF token) and go back to the login form."""
    context, request = _script_context(script)
    require_post(request)
    portal = context.getPortalObject()
    folder = user_folder(portal)
    if folder is None:
        raise BadRequest("this site has no session support")
    folder.checkCsrf(request)
    folder.closeSession(request, request.response)
    request.response.redirect(f"{portal.absolute_url()}/login_form?status=logged-out", status=303)
    return ""


def moduleInfoList(context: Any) -> list[dict[str, Any]]:
    """The portal's modules with their document counts (front page, scripts)."""
    return [
        {
            "id": module.getId(),
            "title": module.getTitle(),
            "url": module.absolute_url(),
            "count": module.getDocumentCount(),
        }
        for module in context.getPortalObject().getModuleList()
    ]


def quoteUrl(text: str) -> str:
    """URL-quote a path segment or query value for templates."""
    return quote(text, safe="")

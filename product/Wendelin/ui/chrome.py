"""What every page wears: security headers, the chrome (user, modules), the error page."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

from AccessControl.SecurityManagement import getSecurityManager
from Acquisition import aq_parent
from Products.PageTemplates.PageTemplateFile import PageTemplateFile

from ..permissions import View
from ..site.users import (
    SESSION_COOKIE,
    csrf_token,
)

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

def _message(request: Any) -> dict[str, str]:
    code = request.form.get("status", "")
    kind, text = MESSAGES.get(code, ("", "")) if isinstance(code, str) else ("", "")
    return {"kind": kind, "text": text}



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

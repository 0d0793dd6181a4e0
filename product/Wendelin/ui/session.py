"""Browser sessions' pages: the login form, login and logout (the user folder is site/users.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from Products.PageTemplates.PageTemplateFile import PageTemplateFile
from zExceptions import BadRequest

from ..site.users import (
    csrf_token,
    require_post,
    safe_came_from,
    user_folder,
)
from .chrome import _current_user_name, _message, _script_context

_login_template = PageTemplateFile(str(Path(__file__).parent / "templates" / "login_form.pt"))


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


def _session_form(script: Any) -> tuple[Any, Any, Any]:
    """The portal, request and user folder of a login or logout form: POST, CSRF checked."""
    context, request = _script_context(script)
    require_post(request)
    portal = context.getPortalObject()
    folder = user_folder(portal)
    if folder is None:
        raise BadRequest("this site has no session support")
    folder.checkCsrf(request)
    return portal, request, folder


def login(script: Any) -> str:
    """Check the login form; open a session and 303 to ``came_from``, or show the error."""
    portal, request, folder = _session_form(script)
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
    portal, request, folder = _session_form(script)
    folder.closeSession(request, request.response)
    request.response.redirect(f"{portal.absolute_url()}/login_form?status=logged-out", status=303)
    return ""

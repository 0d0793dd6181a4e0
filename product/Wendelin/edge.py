"""The edge between HTTP and the application: publisher-wide request rules and the one
place where an exception becomes an HTTP answer.

Rules, applied to every request of the Zope application (portal, tools, ZMI):

- a state-changing request (any method but GET, HEAD, OPTIONS) that carries ``Origin``
  must come from the server's own origin, and one that carries ``Sec-Fetch-Site`` must
  say ``same-origin`` or ``none``; otherwise 403 before anything runs, whatever the
  credentials. Clients that send neither (curl, fluentd, ERP5's kernel) are judged by
  their credentials alone;
- state changes authenticated by the portal's session cookie need the CSRF token;
- GET, HEAD and OPTIONS run in a doomed transaction: a write is refused with 405;
- a request answered with a status of 400 or more commits nothing;
- WebDAV methods are for Managers only; anonymous visitors get the same answer for a
  missing document as for one they may not see.

Documents and libraries know nothing of HTTP: they raise :mod:`Products.Wendelin.errors`
classes (each with its ``http_status``) and :func:`status_for` maps everything here.
"""

from __future__ import annotations

import json
import logging
from typing import Any
from urllib.parse import unquote_to_bytes

import transaction
from AccessControl.PermissionRole import rolesForPermissionOn
from AccessControl.SecurityManagement import getSecurityManager
from Acquisition import aq_base, aq_parent
from DateTime.interfaces import DateTimeError
from OFS.CopySupport import CopyError
from Products.CMFCore.FSPageTemplate import FSPageTemplate
from Products.CMFCore.FSPythonScript import FSPythonScript
from Products.PythonScripts.PythonScript import PythonScript
from transaction.interfaces import DoomedTransaction
from webdav.NullResource import NullResource
from zExceptions import Forbidden, HTTPException, MethodNotAllowed, NotFound, Unauthorized
from ZODB.Connection import Connection
from ZODB.POSException import ConflictError

from .bigdata.errors import BigDataError, OutOfCoreError
from .errors import MethodNotAllowedError, WendelinError
from .site.origin import cross_site_reason

logger = logging.getLogger("Wendelin.edge")

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
WEBDAV_METHODS = frozenset({"PROPFIND", "PROPPATCH", "MKCOL", "COPY", "MOVE", "LOCK", "UNLOCK",
                            "DELETE"})
KNOWN_METHODS = SAFE_METHODS | WEBDAV_METHODS | {"POST", "PUT"}
#: Skin scripts (restricted Python) and the skin objects the naming rule applies to.
SCRIPT_CLASSES = (FSPythonScript, PythonScript)
SKIN_CLASSES = (FSPythonScript, PythonScript, FSPageTemplate)
#: Request flag: the failure happened while reading the request, before traversal.
_PHASE_KEY = "wendelin.edge.traversed"


def _method(request: Any) -> str:
    return str(request.get("REQUEST_METHOD", "GET")).upper()


def _published_object(request: Any) -> Any:
    """The object the request publishes: the owner of a published method, else itself."""
    published = request.get("PUBLISHED")
    return getattr(published, "__self__", None) or published


# -- publisher event subscribers ---------------------------------------------------------
def on_start(event: Any) -> None:
    """Before anything is read: the transaction of a safe method is doomed (it never commits).

    Nothing may be raised here (Zope's publisher cannot answer an error yet). A body sent
    without a Content-Type (``curl -T``) is raw bytes, not form fields."""
    from .http.responses import default_body_type

    default_body_type(event.request)
    if _method(event.request) in SAFE_METHODS:
        transaction.get().doom()


def on_after_traversal(event: Any) -> None:
    """Before the published object is called: unknown methods, OPTIONS and WebDAV but for
    Managers, HEAD on scripts, skin scripts outside their portal type, cross-site state
    changes (whatever the credentials), cookie sessions without the CSRF token."""
    request = event.request
    request.other[_PHASE_KEY] = True
    method = _method(request)
    target = _published_object(request)
    if method not in KNOWN_METHODS:
        raise MethodNotAllowedError(f"the HTTP method {method[:20]!r} is not served here")
    if method in WEBDAV_METHODS or method == "OPTIONS":
        user = getSecurityManager().getUser()
        if user is None or not user.has_role(("Manager",), target):
            raise Forbidden(f"{method} (WebDAV) is for Managers only.")
    if method == "HEAD" and isinstance(aq_base(target), SCRIPT_CLASSES):
        raise MethodNotAllowedError("HEAD is answered for documents; a script answers GET or POST")
    check_skin_context(target)
    if method in SAFE_METHODS:
        return
    reason = cross_site_reason(request)
    if reason:
        raise Forbidden(f"Cross-site request refused ({reason}); nothing was done.")
    if method == "PUT" and isinstance(aq_base(target), NullResource):
        raise MethodNotAllowedError(
            "PUT creates nothing here: create documents with newContentFromJSON or an upload"
        )
    from .site.users import SESSION_KEY, user_folder

    if request.other.get(SESSION_KEY):
        portal = _portal_of(request)
        folder = user_folder(portal) if portal is not None else None
        if folder is None:
            raise Forbidden("This session cannot change data here.")
        folder.checkCsrf(request)


#: Skin script families that also serve the portal types that extend theirs.
SKIN_FAMILIES = {"DataArray": ("DataArray", "DataArrayLine")}


def check_skin_context(target: Any) -> None:
    """The naming rule, enforced: ``PortalType_verbNoun`` runs on documents of that type
    (``Base_`` and ``ERP5Site_`` on anything, ``Module_`` on modules), and
    ``*_template`` macros are not pages. NotFound otherwise, naming what was asked."""
    if not isinstance(aq_base(target), SKIN_CLASSES):
        return
    name = target.getId()
    if name.endswith("_template"):
        raise NotFound(f"{name} is a macro template, not a page")
    prefix, sep, _rest = name.partition("_")
    if not sep or not prefix[:1].isupper() or prefix in ("Base", "ERP5Site"):
        return  # Base_ on anything; ERP5Site_ scripts work on the portal from anywhere
    context = aq_parent(target)
    portal_type = getattr(aq_base(context), "portal_type", "") or ""
    kind = portal_type.replace(" ", "") if isinstance(portal_type, str) else ""
    if prefix == "Module":
        ok = getattr(aq_base(context), "meta_type", "") == "Wendelin Module"
    else:
        types = getattr(context, "portal_types", None)
        known = {t.replace(" ", "") for t in types.objectIds()} if types is not None else set()
        families = SKIN_FAMILIES.get(prefix, (prefix,))
        ok = prefix not in known or kind in families
    if not ok:
        raise NotFound(f"{name} applies to {prefix} documents, not to {portal_type or 'this'}")


def on_before_commit(event: Any) -> None:
    """A refused request commits nothing; a safe method that wrote is an error (405)."""
    request = event.request
    txn = transaction.get()
    if request.response.getStatus() >= 400:
        if not txn.isDoomed():
            txn.doom()
        return
    if _method(request) in SAFE_METHODS and any(map(_has_changes, txn._resources)):
        raise MethodNotAllowed(
            f"A {_method(request)} request may not change data; this action needs a POST."
        )


def _has_changes(resource: Any) -> bool:
    """Whether a data manager joined to the transaction holds changes to commit.

    A ZODB connection joins when an object is registered as changed; other data managers
    may join just to follow the transaction (live array views) and say so by a
    ``has_changes()`` method. Unknown data managers count as changes."""
    has_changes = getattr(resource, "has_changes", None)
    if callable(has_changes):
        return bool(has_changes())
    if isinstance(resource, Connection):
        return bool(resource._registered_objects or resource._added)
    return True


# -- exceptions to HTTP --------------------------------------------------------------------
def status_for(exc: BaseException, request: Any = None) -> int:
    """The HTTP status that stands for ``exc``: the one mapping of the application."""
    if isinstance(exc, WendelinError):
        return int(exc.http_status)
    if isinstance(exc, Forbidden) and str(exc) == "Request must be POST":
        return 405  # Zope's own requestmethod("POST") guard (ZMI forms)
    if isinstance(exc, HTTPException):
        return int(exc.getStatus())
    if isinstance(exc, DateTimeError):
        return 400  # a date that does not parse (``:date`` converter, query values)
    if isinstance(exc, DoomedTransaction):
        return 405
    if isinstance(exc, OutOfCoreError):
        return 413
    if isinstance(exc, BigDataError):
        return 400
    if isinstance(exc, ConflictError):
        return 409
    if isinstance(exc, (UnicodeError, CopyError)):
        return 400
    if request is not None and _zope_management_call(request):
        # Zope's own management methods (ZMI, WebDAV) do not validate their arguments:
        # what they raise (ValueError, KeyError, CatalogError...) is the caller's mistake
        if isinstance(exc, Exception) and not isinstance(exc, MemoryError):
            return 400
    if request is not None and not request.other.get(_PHASE_KEY):
        # failed while reading the request (form converters such as ``:int``, ``:required``)
        # (Zope turns DateTime's parse error into a builtin SyntaxError on the way)
        if isinstance(exc, (ValueError, TypeError, KeyError, AttributeError, SyntaxError)):
            return 400
    return 500


def _zope_management_call(request: Any) -> bool:
    """Whether the published object is a method of Zope's own classes (not Wendelin's code,
    not a skin script): its bad-argument errors are the caller's, not a bug here."""
    published = request.get("PUBLISHED")
    if published is None or isinstance(aq_base(_published_object(request)), SKIN_CLASSES):
        return False
    function = getattr(published, "__func__", published)
    module = getattr(function, "__module__", "") or ""
    return bool(module) and not module.startswith(("Products.Wendelin", "Wendelin"))


def _message(exc: BaseException, status: int) -> str:
    if isinstance(exc, DoomedTransaction):
        return "A GET or HEAD request may not change data; this action needs a POST."
    if isinstance(exc, ConflictError):
        return "The document was changed by another request at the same time; try again."
    if status >= 500:
        return ""
    text = str(exc) or type(exc).__name__
    if status == 400 and not isinstance(exc, (WendelinError, HTTPException)):
        text = f"Malformed request: {text}"
    return text[:2000]


def _portal_of(request: Any) -> Any:
    """The Wendelin portal the request traversed, if any."""
    from .site.portal import WendelinSite

    for obj in request.get("PARENTS") or ():
        if isinstance(aq_base(obj), WendelinSite):
            return obj
    return None


def _open_to_anonymous(request: Any) -> bool:
    """Whether the published object is a page anonymous visitors may use (the login form
    and its scripts): their refusals are answered as they are, not as a login request."""
    target = _published_object(request)
    if target is None or not isinstance(aq_base(target), SKIN_CLASSES):
        return False
    try:
        return "Anonymous" in (rolesForPermissionOn("View", target) or ())
    except (AttributeError, TypeError):
        return False


def _has_valid_credentials(portal: Any, request: Any) -> bool:
    """Whether the request carries a valid Basic login or session of a user who may see
    ``portal`` (View): others learn nothing from the difference between answers."""
    from .permissions import View
    from .site.users import user_folder

    folder = user_folder(portal)
    if folder is None:
        return bool(request._auth)
    user = folder._sessionUser(request)
    if user is None and request._auth:
        name_password = folder.identify(request._auth)
        if name_password and name_password[0]:
            user = folder.checkCredentials(*name_password, request)
    return user is not None and bool(user.has_permission(View, portal))


def _wants_json(request: Any) -> bool:
    accept = request.get_header("Accept") or ""
    content_type = request.get_header("Content-Type") or ""
    return "application/json" in accept or (
        "text/html" not in accept and "json" in content_type
    )


class ErrorView:
    """The exception view for every exception: status from :func:`status_for`, a clear
    message for 4xx, never a traceback; the site's error page for browsers, JSON for
    JSON clients."""

    def __init__(self, context: BaseException, request: Any) -> None:
        self.context = context
        self.request = request
        self.__parent__ = None

    def __call__(self) -> str:
        exc, request = self.context, self.request
        response = request.response
        status = status_for(exc, request)
        portal = _portal_of(request)
        if 400 <= status < 500 and portal is not None and not _open_to_anonymous(request) and (
            not _has_valid_credentials(portal, request)
        ):
            # anonymous visitors see nothing, not even whether an id or a method exists
            return self._as_unauthorized(portal)
        if status >= 500:
            logger.error("%s %s failed", _method(request), request.get("URL", ""),
                         exc_info=(type(exc), exc, exc.__traceback__))
        elif status >= 400:
            logger.info("%s %s: %s %s", _method(request), request.get("URL", ""), status,
                        str(exc)[:200])
        if (isinstance(exc, Unauthorized) and portal is not None and not request._auth
                and self._to_login_form(portal)):  # a browser without Basic credentials
            return ""
        response.setStatus(status)
        if 300 <= status < 400 or isinstance(exc, Unauthorized):
            return ""
        message = _message(exc, status)
        if _wants_json(request):
            response.setHeader("Content-Type", "application/json")
            return json.dumps({"error": type(exc).__name__, "status": status,
                               "message": message})
        if portal is not None:
            from .ui.chrome import error_page

            try:
                return error_page(portal, request, type(exc).__name__, message)
            except Exception:  # the answer must not depend on the page rendering
                logger.exception("the error page failed; answering in plain text")
        response.setHeader("Content-Type", "text/plain; charset=utf-8")
        response.setHeader("X-Content-Type-Options", "nosniff")
        return f"{status} {message}"

    def _to_login_form(self, portal: Any) -> bool:
        """Redirect a browser navigating to the login form (locked: the publisher sets 401
        after this view for Unauthorized); False for other clients."""
        from .site.users import login_url, wants_html

        if not wants_html(self.request):
            return False
        self.request.response.redirect(login_url(portal.absolute_url(), self.request),
                                       status=302, lock=True)
        return True

    def _as_unauthorized(self, portal: Any) -> str:
        """Answer an anonymous visitor's refused request as a login request, whatever
        was refused (a missing id, a bad method, a bad value): nothing to probe."""
        if self._to_login_form(portal):
            return ""
        response = self.request.response
        response.setStatus(401)
        response.setHeader("WWW-Authenticate",
                           f'basic realm="{response.realm}", charset="UTF-8"', 1)
        return ""


# -- WSGI ------------------------------------------------------------------------------------
class HeadGuard:
    """WSGI middleware: an answer to HEAD has headers only (RFC 9110), whatever the app
    returned (an error page, a script's output). A body left on a kept-alive connection
    would be read by the client as the start of the next answer."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def __call__(self, environ: dict, start_response: Any) -> Any:
        body = self.app(environ, start_response)
        if str(environ.get("REQUEST_METHOD", "")).upper() != "HEAD":
            return body
        try:
            for _chunk in body:  # run the app's iterable to its end (it may do work)
                pass
        finally:
            close = getattr(body, "close", None)
            if close is not None:
                close()
        return []


class InputGuard:
    """WSGI middleware: a path or query that is not UTF-8 is a 400 before Zope decodes it."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        for key in ("PATH_INFO", "QUERY_STRING"):
            value = environ.get(key, "")
            try:
                raw = value.encode("latin-1")
                if key == "QUERY_STRING":
                    raw = unquote_to_bytes(value.replace("+", " "))
                raw.decode("utf-8")
            except (UnicodeEncodeError, UnicodeDecodeError):
                body = f"400 Bad request: the {key.lower()} is not valid UTF-8".encode()
                start_response("400 Bad Request", [
                    ("Content-Type", "text/plain; charset=utf-8"),
                    ("Content-Length", str(len(body))),
                    ("X-Content-Type-Options", "nosniff"),
                ])
                return [body]
        return self.app(environ, start_response)

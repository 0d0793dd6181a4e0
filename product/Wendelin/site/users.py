"""Browser sessions for the portal: login with a session cookie, logout, CSRF tokens.

``WendelinUserFolder`` is Zope's standard ``UserFolder`` (same users, same
``manage_users`` form, same HTTP Basic auth for scripts) that also accepts a session
cookie. A session is a random token; the folder keeps only its SHA-256, so logout
really ends it and the cookie never carries a password (CMF's CookieCrumbler and
PAS's cookie helper store ``user:password`` in the cookie). Browsers (``Accept:
text/html``) that are not allowed to see a page are redirected to the login form by
the edge's exception view; other clients keep getting ``401`` with a Basic challenge.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from typing import Any
from urllib.parse import quote, urlsplit

from AccessControl.class_init import InitializeClass
from AccessControl.SecurityInfo import ClassSecurityInfo
from AccessControl.SecurityManagement import getSecurityManager
from AccessControl.userfolder import _noroles
from Acquisition import aq_base, aq_inner, aq_parent
from BTrees.OOBTree import OOBTree
from OFS.userfolder import UserFolder
from zExceptions import Forbidden

from ..errors import MethodNotAllowedError

SESSION_COOKIE = "wendelin_session"
LOGIN_COOKIE = "wendelin_login"
CSRF_FIELD = "_csrf"
CSRF_HEADER = "X-CSRF-Token"
SESSION_SECONDS = 12 * 3600
#: Where the session id lives on the request once a cookie authenticated it.
SESSION_KEY = "wendelin.session_key"


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def wants_html(request: Any) -> bool:
    """Whether the request comes from a browser navigating (so a redirect beats a 401)."""
    return request.get("REQUEST_METHOD", "GET") in ("GET", "HEAD") and "text/html" in (
        request.get_header("Accept") or ""
    )


def login_url(portal_url: str, request: Any) -> str:
    """The login form, told to come back to the page the request asked for."""
    came_from = request.get("ACTUAL_URL", "") or request.get("URL", "")
    query = request.get("QUERY_STRING", "")
    if query:
        came_from += "?" + query
    return f"{portal_url}/login_form?came_from={quote(came_from, safe='')}"


def safe_came_from(came_from: str, portal_url: str) -> str:
    """``came_from`` if it points inside the portal, else the portal's URL (no open redirect)."""
    if not came_from:
        return portal_url
    target, portal = urlsplit(came_from), urlsplit(portal_url)
    if target.scheme in ("", portal.scheme) and target.netloc in ("", portal.netloc):
        path = target.path or "/"
        if path.startswith(portal.path or "/") and not path.startswith("//"):
            return came_from if target.netloc else f"{portal.scheme}://{portal.netloc}{path}" + (
                f"?{target.query}" if target.query else ""
            )
    return portal_url


class WendelinUserFolder(UserFolder):
    """The portal's users, with browser sessions on top of HTTP Basic auth."""

    meta_type = "Wendelin User Folder"
    security = ClassSecurityInfo()

    def __init__(self) -> None:
        super().__init__()
        self._sessions = OOBTree()
        self._secret = secrets.token_bytes(32)

    # -- sessions ------------------------------------------------------------------------
    def _userSources(self) -> list:
        """The user folders a session may name: this one, then the root's (administrator)."""
        sources = [self]
        root = self.getPhysicalRoot()
        root_users = getattr(aq_base(root), "acl_users", None)
        if root_users is not None and root_users is not aq_base(self):
            sources.append(root.acl_users)
        return sources

    @security.private
    def checkCredentials(self, name: str, password: str, request: Any):
        """The user (wrapped in its folder) whose name and password match, else None."""
        if not name or not password:
            return None
        for folder in self._userSources():
            user = folder.getUser(name)
            if user is not None and user.authenticate(password, request):
                return user.__of__(folder)
        return None

    @security.private
    def openSession(self, user: Any, response: Any, secure: bool = False) -> str:
        """Start a session for ``user``; set its cookie on ``response``; return the token."""
        now = time.time()
        for key, (_name, _source, expires) in list(self._sessions.items()):
            if expires < now:
                del self._sessions[key]
        token = secrets.token_urlsafe(32)
        source = "portal" if aq_base(aq_parent(user)) is aq_base(self) else "root"
        self._sessions[_digest(token)] = (user.getUserName(), source, now + SESSION_SECONDS)
        extra = {"secure": True} if secure else {}
        response.setCookie(
            SESSION_COOKIE, token, path=self._cookiePath(), http_only=True, same_site="Lax",
            **extra,
        )
        return token

    @security.private
    def closeSession(self, request: Any, response: Any) -> None:
        """End the request's session, if any, and expire its cookie."""
        token = request.cookies.get(SESSION_COOKIE)
        if token:
            self._sessions.pop(_digest(token), None)
        response.expireCookie(SESSION_COOKIE, path=self._cookiePath())

    def _cookiePath(self) -> str:
        return aq_parent(aq_inner(self)).absolute_url_path() or "/"

    def _sessionUser(self, request: Any):
        """The user (wrapped in its folder) of a valid session cookie, else None."""
        token = request.cookies.get(SESSION_COOKIE)
        if not token:
            return None
        key = _digest(token)
        entry = self._sessions.get(key)
        if entry is None or entry[2] < time.time():
            return None
        name, source = entry[0], entry[1]
        folders = self._userSources()
        folder = folders[0] if source == "portal" else folders[-1]
        user = folder.getUser(name)
        if user is None:
            return None
        request.other[SESSION_KEY] = key
        return user.__of__(folder)

    # -- publisher hooks -------------------------------------------------------------------
    @security.private
    def validate(self, request, auth="", roles=_noroles):
        """Basic auth as usual; without it, the session cookie identifies the user."""
        if not auth:
            user = self._sessionUser(request)
            if user is not None:
                accessed, container, name, value = self._getobcontext(
                    request["PUBLISHED"], request
                )
                folder = aq_parent(user)
                if folder.authorize(user, accessed, container, name, value, roles):
                    return user
                return None
        return super().validate(request, auth, roles)

    # -- CSRF -------------------------------------------------------------------------------
    def _sign(self, message: str) -> str:
        return hmac.new(self._secret, message.encode(), hashlib.sha256).hexdigest()

    @security.private
    def csrfToken(self, request: Any) -> str:
        """The token forms must send back: bound to the session, else to the user."""
        key = request.other.get(SESSION_KEY)
        if key:
            return self._sign("session|" + key)
        user = getSecurityManager().getUser()
        name = user.getId() if user is not None else None
        if name:
            return self._sign("user|" + name)
        nonce = request.cookies.get(LOGIN_COOKIE) or request.other.get(LOGIN_COOKIE)
        if not nonce:
            nonce = secrets.token_urlsafe(16)
            request.other[LOGIN_COOKIE] = nonce
            request.response.setCookie(
                LOGIN_COOKIE, nonce, path=self._cookiePath(), http_only=True, same_site="Lax"
            )
        return self._sign("login|" + nonce)

    @security.private
    def checkCsrf(self, request: Any) -> None:
        """Refuse a state-changing request without the right token (403).

        Scripts authenticated with HTTP Basic (no cookie) need no token, unless a
        browser says the request comes from another site.
        """
        sent = request.form.get(CSRF_FIELD) or request.get_header(CSRF_HEADER) or ""
        if isinstance(sent, str) and sent and hmac.compare_digest(
            sent.encode("utf-8", "surrogateescape"), self.csrfToken(request).encode()
        ):
            return
        if request._auth and not request.other.get(SESSION_KEY) and not is_cross_site(request):
            return
        raise Forbidden("The form's security token is missing or expired: reload the page.")


def is_cross_site(request: Any) -> bool:
    """Whether a browser marked the request as coming from another site (edge's rule)."""
    from .origin import cross_site_reason

    return cross_site_reason(request) is not None


InitializeClass(WendelinUserFolder)


def install_user_folder(site: Any) -> None:
    """Give ``site`` a WendelinUserFolder, keeping the users of a plain one it replaces."""
    current = site.__dict__.get("acl_users")
    if isinstance(current, WendelinUserFolder):
        return
    folder = WendelinUserFolder()
    if current is not None:
        folder.data = current.data
        site._delObject("acl_users")
    site._setObject("acl_users", folder)


def user_folder(context: Any) -> WendelinUserFolder | None:
    """The portal's user folder if it is a WendelinUserFolder."""
    folder = getattr(context.getPortalObject(), "acl_users", None)
    return folder if isinstance(aq_base(folder), WendelinUserFolder) else None


def csrf_token(context: Any, request: Any) -> str:
    """The CSRF token for the current request (empty without a Wendelin user folder)."""
    folder = user_folder(context)
    return folder.csrfToken(request) if folder is not None else ""


def check_csrf(context: Any, request: Any) -> None:
    """Raise ``Forbidden`` unless the request carries a valid CSRF token (or is a script)."""
    folder = user_folder(context)
    if folder is None:
        raise Forbidden("no session support on this site")
    folder.checkCsrf(request)


def require_post(request: Any) -> None:
    """State changes only through POST (405 otherwise)."""
    if request.get("REQUEST_METHOD") != "POST":
        raise MethodNotAllowedError(
            f"this action needs a POST, not a {request.get('REQUEST_METHOD', 'GET')}"
        )

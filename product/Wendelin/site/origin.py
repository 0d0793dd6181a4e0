"""Which site a browser says a request comes from: the cross-site rule's one test.

The edge refuses state changes that a browser marks as cross-site (``Sec-Fetch-Site``)
or whose ``Origin`` is not this server's (another port or scheme counts); the user
folder's CSRF check asks the same question for requests authenticated with HTTP Basic.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

ALLOWED_FETCH_SITES = frozenset({"same-origin", "none"})
_DEFAULT_PORTS = {"http": 80, "https": 443}


def _origin_key(url: str) -> tuple[str, str, int] | None:
    """``(scheme, host, port)`` of an origin or URL, default ports filled in."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if not scheme or not parts.hostname or parts.username is not None or parts.path:
        return None  # an origin has no user info and no path
    return scheme, parts.hostname.lower(), port or _DEFAULT_PORTS.get(scheme, 0)


def cross_site_reason(request: Any) -> str | None:
    """Why a browser says the request comes from another site, or None if it does not."""
    fetch_site = request.get_header("Sec-Fetch-Site")
    if fetch_site is not None and fetch_site.strip().lower() not in ALLOWED_FETCH_SITES:
        return f"Sec-Fetch-Site: {fetch_site[:40]}"
    origin = request.get_header("Origin")
    if origin is not None:
        own = _origin_key(str(request.get("SERVER_URL", "")))
        if own is None or _origin_key(origin) != own:
            return f"Origin {origin[:100]!r} is not this site's"
    return None

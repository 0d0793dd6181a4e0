"""HTTP access to a Wendelin/ERP5 site, with failures turned into user-readable errors.

The kernel and the contents manager both talk to the portal through :class:`Connection`;
every failure (bad URL, wrong password, forbidden, unreachable, TLS, server error)
becomes an :class:`Erp5Error` whose message names the URL, the user or the status.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests

#: The script ERP5's own kernel posts every cell to.
EXECUTE_SCRIPT = "Base_executeJupyter"
#: Seconds to wait for a TCP/TLS connection; reading waits as long as a cell runs.
CONNECT_TIMEOUT = 10.0


class Erp5Error(Exception):
    """A failure talking to ERP5, with a message meant for the person at the notebook."""

    ename = "ERP5Error"
    #: The HTTP status the portal answered, when it answered.
    status: int | None = None

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        if status is not None:
            self.status = status


class ConfigurationMissing(Erp5Error):
    """A setting (URL, user, password, reference) is missing or malformed."""

    ename = "ERP5ConfigurationError"


class AuthenticationFailed(Erp5Error):
    """The portal answered 401: wrong or missing user name or password."""

    ename = "ERP5AuthenticationError"
    status = 401


class Forbidden(Erp5Error):
    """The portal answered 403: the user lacks a permission."""

    ename = "ERP5Forbidden"
    status = 403


class RequestRejected(Erp5Error):
    """The portal answered another 4xx (not found, conflict, invalid notebook...)."""

    ename = "ERP5RequestError"


class ServerError(Erp5Error):
    """The portal answered 5xx, or something that is not the expected JSON."""

    ename = "ERP5ServerError"


class Unreachable(Erp5Error):
    """No HTTP answer at all: refused, unknown host, timeout."""

    ename = "ERP5ConnectionError"


class TLSFailure(Erp5Error):
    """The TLS handshake or the certificate verification failed."""

    ename = "ERP5TLSError"


def normalize_url(text: str) -> str:
    """Return the site URL from a site URL or a full ``.../Base_executeJupyter`` URL."""
    url = text.strip().rstrip("/")
    if url.endswith("/" + EXECUTE_SCRIPT):
        url = url[: -len(EXECUTE_SCRIPT) - 1].rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigurationMissing(
            f"Not an ERP5 URL: {text!r}; expected a site URL such as "
            "http://127.0.0.1:8080/erp5 (or its .../Base_executeJupyter URL)"
        )
    if parts.query or parts.fragment:
        raise ConfigurationMissing(f"ERP5 URL must not have a query or fragment: {text!r}")
    return url


def parse_verify(text: str) -> bool | str:
    """Parse a TLS verification setting: on/off (and synonyms) or a CA bundle path."""
    value = text.strip()
    lowered = value.lower()
    if lowered in ("", "on", "1", "true", "yes"):
        return True
    if lowered in ("off", "0", "false", "no"):
        return False
    if value.startswith("/") or value.startswith("~"):
        return os.path.expanduser(value)
    raise ConfigurationMissing(
        f"TLS verification must be on, off or the path of a CA bundle: {text!r}"
    )


def _page_text(response: requests.Response, limit: int = 500) -> str:
    """The answer's body as one line of text (HTML tags removed), for error messages.

    Of Zope's "Site Error" page only the error itself is kept, not the boilerplate.
    """
    text = response.text
    zope_error = re.search(r"site error occurred\.</strong></p>(.*?)<hr", text, flags=re.S)
    if zope_error:
        text = zope_error.group(1)
    text = re.sub(r"<(script|style)\b.*?</\1>", " ", text, flags=re.S | re.I)
    text = re.sub(r"<[^>]+>", " ", text)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "..."


def _connection_reason(exc: Exception) -> str:
    """The useful part of a requests connection error (``[Errno 111] Connection refused``)."""
    text = str(exc)
    found = re.search(r"\[Errno -?\d+\][^'\"\)]*", text)
    if found:
        return found.group(0).strip()
    for marker in ("Read timed out", "timed out", "Name or service not known"):
        if marker in text:
            return marker
    return text if len(text) <= 300 else type(exc).__name__


@dataclass(frozen=True)
class Connection:
    """Where the portal is and who we are there; one method per HTTP call we make."""

    url: str
    user: str
    password: str
    verify: bool | str = True

    def request(self, method: str, name: str, **kwargs: Any) -> requests.Response:
        """Send ``method`` to ``<site>/<name>``; return a 2xx answer or raise Erp5Error."""
        target = f"{self.url}/{name}" if name else self.url
        kwargs.setdefault("timeout", (CONNECT_TIMEOUT, None))
        try:
            response = requests.request(
                method, target, auth=(self.user, self.password), verify=self.verify, **kwargs
            )
        except requests.exceptions.SSLError as exc:
            raise TLSFailure(
                f"TLS failure talking to {target}: {_connection_reason(exc)}. "
                "Check the server's certificate (or give a CA bundle), "
                "or turn verification off (unsafe)."
            ) from None
        except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as exc:
            raise Unreachable(
                f"Cannot reach ERP5 at {self.url}: {_connection_reason(exc)}. "
                "Is the server running and the URL right?"
            ) from None
        except requests.exceptions.RequestException as exc:
            raise Unreachable(f"Cannot send the request to {target}: {exc}") from None
        self._check(response, target)
        return response

    def _check(self, response: requests.Response, target: str) -> None:
        """Raise the Erp5Error matching a non-2xx answer."""
        status = response.status_code
        if status < 300:
            return
        if status == 401:
            raise AuthenticationFailed(
                f"ERP5 at {self.url} refused user {self.user!r} (HTTP 401): "
                "wrong user name or password"
            )
        detail = _page_text(response)
        if status == 403:
            raise Forbidden(
                f"ERP5 at {self.url} forbids this to user {self.user!r} (HTTP 403): "
                f"{detail or 'no reason given'}"
            )
        if status >= 500:
            raise ServerError(
                f"ERP5 server error (HTTP {status}) at {target}: {detail or 'no details'}",
                status=status,
            )
        if status == 404 and not detail:
            detail = "not found; is this the URL of a Wendelin or ERP5 site?"
        raise RequestRejected(f"ERP5 answered HTTP {status} for {target}: {detail}", status)

    def json(self, method: str, name: str, **kwargs: Any) -> Any:
        """Like :meth:`request`, decoding a JSON answer (a non-JSON one is a ServerError)."""
        response = self.request(method, name, **kwargs)
        try:
            return response.json()
        except ValueError:
            raise ServerError(
                f"ERP5 at {self.url} answered {name} with something that is not JSON: "
                f"{response.text[:200]!r}",
                status=response.status_code,
            ) from None

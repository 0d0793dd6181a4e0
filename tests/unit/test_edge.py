"""The edge's rules as functions: origin judgement, exception statuses, the UTF-8 guard."""

from __future__ import annotations

import pytest
from Products.Wendelin.bigdata.errors import BigArrayError, OutOfCoreError
from Products.Wendelin.edge import InputGuard, status_for
from Products.Wendelin.errors import (
    ConfigurationError,
    InvalidInputError,
    QuotaExceededError,
    StateConflictError,
)
from Products.Wendelin.site.origin import cross_site_reason
from transaction.interfaces import DoomedTransaction
from zExceptions import Forbidden, NotFound
from ZODB.POSException import ConflictError


class Request:
    """The two things the origin rule reads: headers and SERVER_URL."""

    def __init__(self, server_url: str = "http://127.0.0.1:8080", **headers: str) -> None:
        self.headers = {k.replace("_", "-").lower(): v for k, v in headers.items()}
        self.other: dict = {}
        self.server_url = server_url

    def get_header(self, name: str):
        return self.headers.get(name.lower())

    def get(self, key: str, default=None):
        return self.server_url if key == "SERVER_URL" else default


@pytest.mark.parametrize("headers", [
    {},
    {"Origin": "http://127.0.0.1:8080"},
    {"Origin": "HTTP://127.0.0.1:8080"},
    {"Sec-Fetch-Site": "same-origin"},
    {"Sec-Fetch-Site": "none", "Origin": "http://127.0.0.1:8080"},
])
def test_own_origin_and_plain_clients_pass(headers):
    assert cross_site_reason(Request(**headers)) is None


@pytest.mark.parametrize("headers", [
    {"Origin": "http://evil.example"},
    {"Origin": "http://127.0.0.1:9999"},           # another port of the same host
    {"Origin": "https://127.0.0.1:8080"},          # another scheme
    {"Origin": "null"},                            # sandboxed frames, file: pages
    {"Origin": "http://127.0.0.1:8080.evil.example"},
    {"Sec-Fetch-Site": "cross-site"},
    {"Sec-Fetch-Site": "same-site"},
    {"Sec-Fetch-Site": "same-origin", "Origin": "http://evil.example"},
])
def test_other_sites_are_refused(headers):
    assert cross_site_reason(Request(**headers))


def test_default_ports_are_the_same_origin():
    assert cross_site_reason(Request("http://example.org:80", Origin="http://example.org")) is None
    request = Request("https://example.org", Origin="https://example.org:443")
    assert cross_site_reason(request) is None


@pytest.mark.parametrize("exc, status", [
    (InvalidInputError("x"), 400),
    (QuotaExceededError("x"), 413),
    (StateConflictError("x"), 409),
    (ConfigurationError("x"), 500),
    (Forbidden("x"), 403),
    (NotFound("x"), 404),
    (DoomedTransaction(), 405),
    (BigArrayError("x"), 400),
    (OutOfCoreError("x"), 413),
    (ConflictError(), 409),
    (UnicodeDecodeError("utf-8", b"\xff", 0, 1, "bad"), 400),
    (RuntimeError("bug"), 500),
])
def test_status_for(exc, status):
    assert status_for(exc) == status


def test_value_errors_before_traversal_are_bad_input_after_it_are_bugs():
    request = Request()
    assert status_for(ValueError("An integer was expected"), request) == 400
    request.other["wendelin.edge.traversed"] = True
    assert status_for(ValueError("bug"), request) == 500


def _call(app, path: str, query: str = ""):
    seen = []

    def start_response(status, headers):
        seen.append(status)

    body = b"".join(app({"PATH_INFO": path, "QUERY_STRING": query}, start_response))
    return seen[0], body


def test_input_guard_refuses_invalid_utf8_and_passes_the_rest():
    inner = []

    def app(environ, start_response):
        inner.append(environ["PATH_INFO"])
        start_response("200 OK", [])
        return [b"ok"]

    guard = InputGuard(app)
    assert _call(guard, "/erp5/x", "q=%FF%FE")[0].startswith("400")
    assert _call(guard, "/erp5/x", "reference=%ED%A0%80")[0].startswith("400")
    assert _call(guard, "/erp5/\xff", "")[0].startswith("400")   # WSGI latin-1 path, not UTF-8
    assert inner == []
    assert _call(guard, "/erp5/t\xc3\xa4st", "q=caf%C3%A9+au+lait") == ("200 OK", b"ok")

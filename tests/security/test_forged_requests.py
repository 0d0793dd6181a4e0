"""Forged requests against every state-changing endpoint: over HTTP and from Chromium.

Each endpoint gets the credentials and browser headers an attacker can arrange (the
session cookie alone, Basic credentials with another site's Origin, an Origin of another
port of the same host, Sec-Fetch-Site cross-site or same-site, GET instead of POST): each
must be refused with nothing changed. The legitimate forms (cookie plus token, Basic from a
script, same-origin browser headers) must still work, so the refusals are not an outage.
"""

from __future__ import annotations

import http.server
import threading
from typing import Any
from urllib.parse import urlencode

import pytest
from permission_matrix import MATRIX
from security_conftest import (
    TALLY,
    browser_login,
    describe_change,
    make_fresh,
    send,
    target_names,
)

_ROWS = {spec["name"]: spec for spec in MATRIX}
#: Endpoint (matrix row), the role that may use it, the answers of an accepted request.
ENDPOINTS: list[tuple[str, str, tuple[int, ...]]] = [
    ("newContentFromJSON", "author", (201,)),
    ("upload", "author", (201, 303)),
    ("Base_edit", "author", (303,)),
    ("delete confirmed", "author", (303,)),
    ("execute code", "developer", (200,)),
    ("notebook save", "author", (200,)),
    ("notebook rename", "author", (200,)),
    ("notebook delete", "author", (204,)),
    ("ingest", "author", (204,)),
    ("operation run", "author", (200, 303)),
    ("csv to array", "author", (200,)),
    ("stream PUT", "author", (204,)),
    ("manage_delObjects", "author", (200,)),
    ("manage_changeProperties", "manager", (200,)),
    ("manage_users add", "manager", (200,)),
]
#: Form-field ingestion (older fluentd), the variant item 5 of the issue was found with.
INGEST_FORM = {
    "name": "ingest form field", "method": "POST", "writes": True,
    "path": "portal_ingestion_policies/default/ingest?reference=sec-forged-form",
    "data": {"data_chunk": bytes.fromhex("92ce6553f100c403616263")},  # [t, b"abc"]
}
EVIL = "http://evil.example"


def _spec(name: str) -> dict[str, Any]:
    if name == "ingest form field":
        return INGEST_FORM
    spec = dict(_ROWS[name])
    if name == "manage_changeProperties":
        spec["data"] = {"title": "Defaced by forgery"}
    if name == "manage_users add":
        spec["data"] = {**spec["data"], "roles:list": "Manager"}
    return spec


ALL_ENDPOINTS = ENDPOINTS + [("ingest form field", "author", (204,))]

#: Forged variants: (name, credentials, extra headers, CSRF token sent, method override).
FORGED = [
    ("cookie-only", "cookie", {}, False, None),
    ("cookie-token-cross-origin", "cookie", {"Origin": EVIL}, True, None),
    ("cookie-token-other-port", "cookie", {"Origin": "{other_port}"}, True, None),
    ("cookie-token-fetch-same-site", "cookie", {"Sec-Fetch-Site": "same-site"}, True, None),
    ("basic-cross-origin", "basic", {"Origin": EVIL}, False, None),
    ("basic-cross-origin-fetch", "basic", {"Origin": EVIL, "Sec-Fetch-Site": "cross-site"},
     False, None),
    ("basic-null-origin", "basic", {"Origin": "null"}, False, None),
    ("basic-other-port", "basic", {"Origin": "{other_port}"}, False, None),
    ("basic-fetch-cross-site", "basic", {"Sec-Fetch-Site": "cross-site"}, False, None),
    ("basic-fetch-same-site", "basic", {"Sec-Fetch-Site": "same-site"}, False, None),
    ("cookie-token-get", "cookie", {}, True, "GET"),
    ("basic-get", "basic", {}, False, "GET"),
]
#: Legitimate variants that must keep working.
GENUINE = [
    ("cookie-token", "cookie", {}, True, None),
    ("cookie-token-same-origin", "cookie", {"Origin": "{origin}", "Sec-Fetch-Site":
                                            "same-origin"}, True, None),
    ("basic-script", "basic", {}, False, None),
    ("basic-fetch-none", "basic", {"Sec-Fetch-Site": "none"}, False, None),
]


@pytest.fixture(scope="module")
def cookies(site) -> dict[str, Any]:
    """A logged-in cookie session and its CSRF token for each role the endpoints need."""
    sessions = {}
    for role in ("author", "developer", "manager"):
        session = site.cookie(role)
        sessions[role] = (session, site.csrf(session))
    return sessions


@pytest.fixture(scope="module")
def portal_title(site) -> str:
    return site.run("print(context.getPortalObject().title)").strip()


def _restore_portal(site, title: str) -> None:
    site.run(f"context.getPortalObject().manage_changeProperties(title={title!r})\n"
             "import transaction; transaction.commit()\nprint(1)")


def _attempt(site, cookies, targets, endpoint: str, role: str, credentials: str,
             headers: dict[str, str], with_token: bool, method: str | None,
             snapshots: list | None = None):
    """Send one variant; ``snapshots`` gets the state taken once its target exists."""
    spec = _spec(endpoint)
    fresh = make_fresh(site, spec.get("fresh"))
    if snapshots is not None:
        snapshots.append(site.snapshot())
    other_port = f"http://{site.host}:{site.port + 1 if site.port < 65535 else site.port - 1}"
    names = {**target_names(site, targets, fresh), "other_port": other_port}
    headers = {key: value.format(other_port=other_port, origin=site.origin)
               for key, value in headers.items()}
    if credentials == "cookie":
        session, token = cookies[role]
        # a browser's form post: HTML accepted, the cookie jar of the logged-in session
        headers = {"Accept": spec.get("headers", {}).get("Accept", "text/html"), **headers}
    else:
        session, token = site.basic(role), None
    extra = {"_csrf": token} if with_token and token else None
    if method == "GET":
        query = dict(fill_form(spec, names))
        if extra:
            query.update(extra)
        get_spec = {**spec, "data": None, "json_body": None, "files": None,
                    "path": spec["path"] + ("&" if "?" in spec["path"] else "?")
                    + urlencode(query)}
        return send(site, session, get_spec, names, headers=headers, method="GET")
    return send(site, session, spec, names, headers=headers, extra_data=extra)


def fill_form(spec: dict[str, Any], names: dict[str, str]) -> list[tuple[str, str]]:
    """The form fields of a row as query parameters (JSON and byte bodies have none)."""
    from security_conftest import fill

    data = spec.get("data")
    return list(fill(data, names).items()) if isinstance(data, dict) else []


def _forged_cases() -> list:
    """Every endpoint with every forged variant (a GET of a document is a read, not forged)."""
    return [pytest.param(endpoint, variant, id=f"{endpoint[0]}-{variant[0]}")
            for endpoint in ALL_ENDPOINTS for variant in FORGED
            if not (endpoint[0] == "stream PUT" and variant[4] == "GET")]


@pytest.mark.parametrize(("endpoint", "variant"), _forged_cases())
def test_forged_request_is_refused_and_changes_nothing(site, targets, cookies, portal_title,
                                                       endpoint, variant) -> None:
    """A forged request answers 4xx (403 for cross-site) and leaves every document as it was."""
    name, role, _ok = endpoint
    label, credentials, headers, with_token, method = variant
    snapshots: list = []
    answer = _attempt(site, cookies, targets, name, role, credentials, headers, with_token,
                      method, snapshots)
    before, after = snapshots[0], site.snapshot()
    if name == "manage_changeProperties" and after["portal"] != before["portal"]:
        _restore_portal(site, portal_title)
    changed = describe_change(before, after) if after != before else ""
    where = f"{label} {answer.request.method} {answer.url}"
    if answer.status_code < 400 or changed:
        kind = "partial_writes" if answer.status_code >= 400 else "forged_accepted"
        TALLY.note(kind, f"{where} -> {answer.status_code} {changed}")
    assert 400 <= answer.status_code < 500, (
        f"{where} answered {answer.status_code}: {answer.text[:200]!r}")
    assert not changed, f"{where} answered {answer.status_code} but changed: {changed}"
    if "Origin" in headers or "Sec-Fetch-Site" in headers:
        assert answer.status_code == 403, f"{where}: a cross-site request is a 403"


@pytest.mark.parametrize("variant", GENUINE, ids=[v[0] for v in GENUINE])
@pytest.mark.parametrize("endpoint", ALL_ENDPOINTS, ids=[e[0] for e in ALL_ENDPOINTS])
def test_genuine_request_still_works(site, targets, cookies, portal_title, endpoint,
                                     variant) -> None:
    """The site's own forms (cookie + token) and scripts (Basic, no Origin) are accepted."""
    name, role, ok = endpoint
    label, credentials, headers, with_token, method = variant
    answer = _attempt(site, cookies, targets, name, role, credentials, headers, with_token,
                      method)
    if name == "manage_changeProperties":
        _restore_portal(site, portal_title)
    assert answer.status_code in ok, (
        f"{label} {answer.request.method} {answer.url} answered {answer.status_code}: "
        f"{answer.text[:300]!r}")


# -- Chromium: another origin's page auto-submits forms to the site --------------------------
class _EvilPages(http.server.BaseHTTPRequestHandler):
    pages: dict[str, str] = {}

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        body = self.pages.get(self.path.split("?")[0], "<p>nothing</p>").encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def evil_server():
    """A tiny web server of the attacker's on another port of the same host."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _EvilPages)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _auto_form(action: str, fields: dict[str, str], method: str = "post",
               enctype: str = "application/x-www-form-urlencoded") -> str:
    inputs = "".join(
        f'<input type="hidden" name="{k}" value="{v}">' for k, v in fields.items()
    )
    return (f'<html><body><form id="f" method="{method}" enctype="{enctype}" '
            f'action="{action}">{inputs}</form>'
            '<script>document.getElementById("f").submit()</script></body></html>')


def _evil_cases(site, targets, fresh_array: str, fresh_stream: str) -> dict[str, tuple]:
    url = site.url
    return {
        "/edit": (_auto_form(f"{fresh_stream}/Base_edit",
                             {"title": "PWNED", "reference": "pwned"}), "POST"),
        "/delete": (_auto_form(f"{url}/data_array_module/manage_delObjects",
                               {"ids:list": fresh_array}), "POST"),
        "/delete-get": (_auto_form(f"{url}/data_array_module/manage_delObjects",
                                   {"ids:list": fresh_array}, method="get"), "GET"),
        "/portal": (_auto_form(f"{url}/manage_changeProperties", {"title": "PWNED"}), "POST"),
        "/adduser": (_auto_form(f"{url}/acl_users/manage_users",
                                {"submit": "Add", "name": "evil", "password": "Evil-1",
                                 "confirm": "Evil-1", "roles:list": "Manager"}), "POST"),
        "/ingest": (_auto_form(f"{url}/portal_ingestion_policies/default/ingest"
                               "?reference=sec-evil", {"data_chunk": "abc"},
                               enctype="multipart/form-data"), "POST"),
        "/code": (_auto_form(f"{url}/Base_executeJupyter",
                             {"reference": "sec-evil", "python_expression":
                              "context.data_stream_module.newContent(reference='evil')"}),
                  "POST"),
        "/run": (_auto_form(f"{targets['operation']}/DataOperation_run",
                            {"input": targets["stream_ref"], "parameters": "{}"}), "POST"),
    }


def _submit_from_evil(page, evil_url: str, site_url: str, method: str) -> int | None:
    """Open the attacker's page; return the status of the request it made to the site."""
    def to_site(response) -> bool:
        return response.url.startswith(site_url) and response.request.method == method

    try:
        with page.expect_response(to_site, timeout=15000) as caught:
            page.goto(evil_url)
        return caught.value.status
    except Exception:  # the browser refused to send it: nothing could happen
        return None


@pytest.fixture(scope="module")
def browsers(site, chromium):
    """Pages of logged-in browsers by (credentials, role), made once per module."""
    from security_conftest import user_name, user_password

    made: dict[tuple[str, str], Any] = {}
    contexts = []

    def get(credentials: str, role: str) -> Any:
        if (credentials, role) not in made:
            if credentials == "basic":
                context = chromium.new_context(http_credentials={
                    "username": user_name(role), "password": user_password(role)})
                page = context.new_page()
                page.set_default_timeout(20000)
                # the browser answers the site's first challenge and keeps the credentials
                page.goto(f"{site.url}/data_stream_module/view")
            else:
                context = chromium.new_context()
                page = browser_login(context, site, role)
            contexts.append(context)
            made[(credentials, role)] = page
        return made[(credentials, role)]

    yield get
    for context in contexts:
        context.close()


@pytest.mark.parametrize("credentials", ["cookie", "basic"])
@pytest.mark.parametrize("case", ["/edit", "/delete", "/delete-get", "/portal", "/adduser",
                                  "/ingest", "/code", "/run"])
def test_chromium_cross_origin_form_changes_nothing(site, targets, browsers, evil_server,
                                                    credentials: str, case: str) -> None:
    """A logged-in browser (session cookie or cached Basic creds) visiting the attacker's
    page on another port submits the page's form to the site: nothing changes."""
    role = "manager" if case in ("/portal", "/adduser", "/code") else "author"
    if case == "/code":
        role = "developer" if credentials == "basic" else "manager"
    array = make_fresh(site, "array")["fresh_id"]
    stream = make_fresh(site, "stream")["fresh_url"]
    pages = _evil_cases(site, targets, array, stream)
    html, method = pages[case]
    _EvilPages.pages = {case: html}
    evil_url = f"http://127.0.0.1:{evil_server.server_address[1]}{case}"
    page = browsers(credentials, role)
    before = site.snapshot()
    status = _submit_from_evil(page, evil_url, site.url, method)
    after = site.snapshot()
    TALLY.tries += 1
    changed = describe_change(before, after) if after != before else ""
    if changed or (status is not None and status < 300):
        TALLY.note("forged_accepted", f"chromium {credentials} {case} -> {status} {changed}")
    assert not changed, f"{credentials} {case} (answer {status}) changed: {changed}"
    # a browser's GET navigation without permission is sent to the login page instead
    redirected = method == "GET" and status in (302, 303)
    assert status is None or redirected or 400 <= status < 500, (
        f"{credentials} {case} answered {status}")

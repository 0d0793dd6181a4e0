"""The adversarial suite's shared machinery: one real server, users of every role, probes.

One real server (``wendelin run``, the functional tests' ``Server``) per pytest process,
users for each Wendelin role and one without any, Basic and cookie sessions, CSRF
tokens read from pages, a fingerprint of everything an attack could change, and the
counters (tries, leaks, forged requests accepted, 500s, partial writes) printed at the end.
"""

from __future__ import annotations

import json
import re
import sys
from typing import Any
from urllib.parse import urlencode, urlsplit

import functional_server as _functional
import pytest
import requests
from security_tally import Tally, print_tally

#: Test modules import the helpers below as ``security_conftest`` (several folders have a
#: ``conftest`` module, so that name is ambiguous).
sys.modules.setdefault("security_conftest", sys.modules[__name__])

Server = _functional.Server
UI = _functional.UI
ADMIN_PASSWORD = _functional.PASSWORD

#: Portal users of the suite and their roles ("admin" is the root's Manager ``zope``).
ROLES: dict[str, list[str]] = {
    "manager": ["Manager"],
    "author": ["Author"],
    "auditor": ["Auditor"],
    "developer": ["Developer"],
    "nobody": [],
}
#: Every actor of the permission matrix, anonymous first.
ACTORS = ("anonymous", "nobody", "auditor", "author", "developer", "manager", "admin")
PROBE_REFERENCE = "sec-probe"



def user_name(role: str) -> str:
    """The login of the suite's user for ``role``."""
    return "zope" if role == "admin" else f"sec_{role}"


def user_password(role: str) -> str:
    """The password of the suite's user for ``role``."""
    return ADMIN_PASSWORD if role == "admin" else f"pw-sec-{role}"


# -- counters -----------------------------------------------------------------------------
TALLY = Tally()


def pytest_sessionfinish(session: Any) -> None:
    """In an xdist worker, hand the counters to the controller (tests/conftest.py adds them)."""
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None and TALLY.tries:
        workeroutput["security_tally"] = {**vars(TALLY), "notes": TALLY.notes}


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Print the suite's counters so the figures can be quoted (one process runs)."""
    if TALLY.tries:
        print_tally(terminalreporter, TALLY)


# -- the site -------------------------------------------------------------------------------
#: Fingerprint of everything a forged or rejected request could change, computed in the
#: server as the root administrator (the probe notebook itself excluded).
_SNAPSHOT_CODE = """
import json as _json
from Acquisition import aq_base
_p = context.getPortalObject()
_rows = []
for _m in _p.getModuleList():
    for _d in _m.objectValues():
        _ct = getattr(aq_base(_d), 'content_type', '')
        if _d.getPortalType() == 'Data Notebook' and _d.getReference() == %(probe)r:
            continue
        _row = [_d.getRelativeUrl(), _d.getPortalType(), _d.getTitle(), _d.getReference(),
                _d.getDescription(), _d.getSize(), str(_d.getModificationDate()),
                _ct if isinstance(_ct, str) else '']
        if hasattr(_d, 'getRunList'):
            _row.append(len(_d.getRunList()))
        if hasattr(_d, 'getNotebookLineList'):
            _row.append(len(_d.getNotebookLineList()))
            _row.append(str(_d.getIpynb())[:20000] if _d.hasIpynb() else '')
        _rows.append(_row)
_cat = _p.portal_catalog
_users = lambda f: sorted((n, sorted(f.getUser(n).getRoles())) for n in f.getUserNames())
_policies = {}
for _pid in _p.portal_ingestion_policies.objectIds():
    _pol = _p.portal_ingestion_policies[_pid]
    _policies[_pid] = sorted(_pol.getStreamIdMap().items())
_snap = {
    'documents': _rows,
    'catalog': len(_cat.unrestrictedSearchResults(path='/'.join(_p.getPhysicalPath()))),
    'portal': sorted((k, str(v)) for k, v in _p.propertyItems()),
    'portal_users': _users(_p.acl_users),
    'root_users': _users(_p.getPhysicalRoot().acl_users),
    'policies': _policies,
    'root_ids': sorted(_p.getPhysicalRoot().objectIds()),
    'portal_ids': sorted(_p.objectIds()),
}
print(_json.dumps(_snap, sort_keys=True, default=str))
"""


class Site:
    """The live server seen by the attacker and by the operator who checks the damage."""

    def __init__(self, server: Any) -> None:
        self.server = server
        self.url = server.url
        parts = urlsplit(server.url)
        self.origin = f"{parts.scheme}://{parts.netloc}"
        self.host = parts.hostname
        self.port = parts.port
        self.ui = UI(server)
        self._admin = self.basic("admin")

    # sessions
    def basic(self, role: str) -> requests.Session:
        """A script's session: HTTP Basic credentials of ``role`` (none for anonymous)."""
        session = requests.Session()
        if role != "anonymous":
            session.auth = (user_name(role), user_password(role))
        return session

    def cookie(self, role: str) -> requests.Session:
        """A browser-like session logged in through the login form (session cookie)."""
        return self.ui.login(user_name(role), user_password(role))

    def csrf(self, session: requests.Session, page_url: str | None = None) -> str:
        """The CSRF token a page gives ``session`` (the start page unless told)."""
        answer = session.get(page_url or f"{self.url}/view", headers=UI.HTML)
        assert answer.status_code == 200, (page_url, answer.status_code)
        return UI.csrf(answer.text)

    # requests counted in the tally
    def request(self, session: requests.Session, method: str, url: str, **kw: Any):
        """Send one attack request; count it, and count a 5xx answer."""
        kw.setdefault("allow_redirects", False)
        kw.setdefault("timeout", 60)
        response = session.request(method, url, **kw)
        TALLY.tries += 1
        if response.status_code >= 500:
            TALLY.note("errors_500", f"{method} {url} -> {response.status_code}")
        return response

    # operator's view (root Manager, Basic auth, no Origin)
    def run(self, code: str, reference: str = PROBE_REFERENCE) -> str:
        """Run Python in the portal as the root administrator; return what it printed."""
        response = self._admin.post(
            f"{self.url}/Base_executeJupyter",
            data={"python_expression": code, "reference": reference, "store_history": "0"},
            timeout=120,
        )
        assert response.status_code == 200, response.text[:2000]
        reply = response.json()
        assert reply["status"] == "ok", reply
        return reply.get("code_result") or ""

    def snapshot(self) -> dict[str, Any]:
        """Everything an attack could change: documents, catalog, users, portal, policies."""
        return json.loads(self.run(_SNAPSHOT_CODE % {"probe": PROBE_REFERENCE}).strip())

    def create(self, module: str, role: str = "manager", **properties: Any) -> dict:
        """Create a document through the JSON API as ``role``; its answer's JSON."""
        return self.server.create(module, session=self.basic(role), **properties)

    def put(self, url: str, data: bytes, role: str = "manager") -> None:
        """Replace a document's bytes."""
        answer = self.basic(role).put(
            url, data=data, headers={"Content-Type": "application/octet-stream"}
        )
        assert answer.status_code in (200, 204), answer.text[:500]


def describe_change(before: dict[str, Any], after: dict[str, Any]) -> str:
    """A short account of what differs between two snapshots."""
    parts = []
    for key in sorted(set(before) | set(after)):
        old, new = before.get(key), after.get(key)
        if old == new:
            continue
        if key == "documents":
            old_rows = {row[0]: row for row in old or []}
            new_rows = {row[0]: row for row in new or []}
            added = sorted(set(new_rows) - set(old_rows))
            removed = sorted(set(old_rows) - set(new_rows))
            changed = sorted(k for k in set(old_rows) & set(new_rows)
                             if old_rows[k] != new_rows[k])
            parts.append(f"documents added {added[:5]} removed {removed[:5]} "
                         f"changed {changed[:5]}")
        else:
            parts.append(f"{key}: {str(old)[:150]} -> {str(new)[:150]}")
    return "; ".join(parts)


def refused(status: int) -> bool:
    """Whether an answer refuses the request (4xx)."""
    return 400 <= status < 500


@pytest.fixture(scope="session")
def site(tmp_path_factory) -> Site:
    """The suite's real server, with its users and the probe notebook made."""
    server = Server(tmp_path_factory.mktemp("security-instance"), {"WENDELIN_JUPYTER": "0"})
    server.start()
    try:
        for role, roles in ROLES.items():
            server.add_user(user_name(role), roles, user_password(role))
        live = Site(server)
        live.snapshot()  # creates the probe notebook, so later snapshots compare equal
        yield live
    finally:
        server.stop()


@pytest.fixture(scope="session")
def wav() -> bytes:
    """A small stereo PCM-16 WAV."""
    return UI.wav(seconds=0.5, rate=8000, channels=2)


@pytest.fixture(scope="session")
def targets(site: Site, wav: bytes) -> dict[str, Any]:
    """Documents of every type the attacks aim at, made by the portal Manager."""
    stream = site.create("data_stream_module", title="sec stream", reference="sec-target.wav")
    site.put(stream["url"], wav)
    csv = site.create("data_stream_module", title="sec csv", reference="sec-target.csv")
    site.put(csv["url"], b"1,2\n3,4\n")
    array = site.create("data_array_module", title="sec array", reference="sec-target-array")
    site.run(
        "_a = context.portal_catalog.getResultValue(reference='sec-target-array')\n"
        "_a.initArray((16, 2), 'float64')\n"
        "_a.getArray()[:] = 1.5\n"
        "import transaction; transaction.commit()\n"
        "print('ok')"
    )
    image = site.create("image_module", title="sec image", reference="sec-target.png")
    notebook_ref = "sec-target-notebook"
    saved = site.basic("manager").post(
        f"{site.url}/data_notebook_module/DataNotebookModule_saveNotebook",
        data=json.dumps({"reference": notebook_ref, "ipynb": empty_ipynb()}),
        headers={"Content-Type": "application/json"},
    )
    assert saved.status_code in (200, 201), saved.text
    operation_url = site.run(
        "print(context.portal_catalog.getResultValue(portal_type='Data Operation', "
        "reference='extract-channel').absolute_url())"
    ).strip()
    return {
        "stream": stream["url"], "stream_ref": "sec-target.wav", "stream_id": stream["id"],
        "csv": csv["url"],
        "array": array["url"], "array_id": array["id"],
        "image": image["url"],
        "notebook": saved.json()["url"], "notebook_ref": notebook_ref,
        "operation": operation_url,
    }


def empty_ipynb(cells: list | None = None) -> dict[str, Any]:
    """A valid nbformat 4 notebook with ``cells``."""
    return {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": cells or []}


def msgpack_entries(*payloads: bytes) -> bytes:
    """A fluentd msgpack body of ``[timestamp, payload]`` entries."""
    import msgpack

    return b"".join(msgpack.packb([1700000000 + i, p]) for i, p in enumerate(payloads))


def browser_login(context: Any, site: Site, role: str) -> Any:
    """Log a Playwright browser context in through the login form; return its page."""
    page = context.new_page()
    page.set_default_timeout(20000)
    page.goto(f"{site.url}/login_form")
    page.fill("input[name=__ac_name]", user_name(role))
    page.fill("input[name=__ac_password]", user_password(role))
    page.click("button:has-text('Log in')")
    page.wait_for_selector(".username")
    return page


CSRF_RE = re.compile(r'name="_csrf" value="([0-9a-f]+)"')


# -- request specifications (shared by the matrix and the forged-request tests) ------------
_PLACEHOLDER = re.compile(r"\{(\w+)\}")
_fresh_counter = iter(range(1, 1 << 30))


def fill(value: Any, names: dict[str, str]) -> Any:
    """``value`` with ``{name}`` placeholders replaced (strings, bytes kept, dicts, lists)."""
    if isinstance(value, str):
        return _PLACEHOLDER.sub(lambda m: str(names.get(m.group(1), m.group(0))), value)
    if isinstance(value, dict):
        return {fill(k, names): fill(v, names) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(fill(v, names) for v in value)
    return value


def make_fresh(site: Site, kind: str | None) -> dict[str, str]:
    """A new target of ``kind`` (stream, array, notebook, name), made by the portal Manager."""
    if not kind:
        return {}
    number = next(_fresh_counter)
    reference = f"sec-fresh-{kind}-{number}"
    if kind == "name":
        return {"fresh_ref": f"secuser{number}", "fresh_id": "", "fresh_url": ""}
    if kind == "notebook":
        saved = site.basic("manager").post(
            f"{site.url}/data_notebook_module/DataNotebookModule_saveNotebook",
            data=json.dumps({"reference": reference, "ipynb": empty_ipynb()}),
            headers={"Content-Type": "application/json"},
        )
        assert saved.status_code in (200, 201), saved.text[:500]
        made = saved.json()
    else:
        module = {"stream": "data_stream_module", "array": "data_array_module"}[kind]
        made = site.create(module, title=f"fresh {kind} {number}", reference=reference)
        if kind == "stream":
            site.put(made["url"], b"fresh bytes\n")
    return {"fresh_id": made["id"], "fresh_url": made["url"], "fresh_ref": reference}


def target_names(site: Site, targets: dict[str, Any], fresh: dict[str, str]) -> dict[str, str]:
    """Every placeholder a request template may use."""
    return {"url": site.url, "origin": site.origin, **targets, **fresh}


def send(site: Site, session: requests.Session, spec: dict[str, Any], names: dict[str, str],
         headers: dict[str, str] | None = None, method: str | None = None,
         extra_data: dict[str, str] | None = None) -> requests.Response:
    """Send the request a matrix row describes (filled with ``names``) through ``session``.

    ``extra_data`` (a CSRF token, say) joins the form fields, or the query string when
    the body is not a form."""
    path = fill(spec["path"], names)
    url = path if path.startswith("http") else f"{site.url}/{path}"
    kw: dict[str, Any] = {"headers": {**fill(spec.get("headers", {}), names), **(headers or {})}}
    data = fill(spec.get("data"), names)
    form_body = spec.get("json_body") is None and (isinstance(data, dict) or spec.get("files"))
    if extra_data and form_body and (method or spec["method"]) not in ("GET", "HEAD"):
        data = {**(data or {}), **extra_data}
    elif extra_data:
        url += ("&" if "?" in url else "?") + urlencode(extra_data)
    if spec.get("json_body") is not None:
        kw["data"] = json.dumps(fill(spec["json_body"], names))
        kw["headers"].setdefault("Content-Type", "application/json")
    elif data is not None:
        kw["data"] = data
    if spec.get("files"):
        kw["files"] = fill(spec["files"], names)
    return site.request(session, method or spec["method"], url, **kw)

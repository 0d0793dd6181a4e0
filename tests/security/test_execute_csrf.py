"""Forged requests to Base_executeJupyter on the real server: refused, and the code never runs.

Each cell would create a marker file; a refused request must leave no marker. ERP5's own
kernel (HTTP Basic, no Origin, no Sec-Fetch-Site) keeps running code.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

import functional_server as functional
import pytest
import requests


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A real server (no Jupyter child) of this module's own."""
    srv = functional.Server(tmp_path_factory.mktemp("csrf-instance"), {"WENDELIN_JUPYTER": "0"})
    srv.start()
    yield srv
    srv.stop()


def marker_code(marker: Path) -> str:
    """A cell that leaves ``marker`` on the disk when it runs."""
    return f"open({str(marker)!r}, 'w').write('ran')\nprint('ran')"


def execute(session: requests.Session, url: str, code: str, method: str = "POST",
            headers: dict[str, str] | None = None) -> requests.Response:
    """Send the form ERP5's kernel sends, with extra headers, by ``method``."""
    form = {"reference": "csrf-nb", "python_expression": code}
    if method == "GET":
        return session.get(f"{url}/Base_executeJupyter", params=form, headers=headers,
                           timeout=60)
    return session.post(f"{url}/Base_executeJupyter", data=form, headers=headers, timeout=60)


def test_the_issues_cross_site_curl_is_refused_and_runs_nothing(server, tmp_path):
    marker = tmp_path / "evil"
    answer = execute(
        server.session(), server.url, marker_code(marker),
        headers={"Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"},
    )
    assert answer.status_code == 403, answer.text
    assert not marker.exists()


@pytest.mark.parametrize("headers", [
    {"Origin": "http://evil.example"},
    {"Sec-Fetch-Site": "cross-site"},
    {"Sec-Fetch-Site": "same-site"},
])
def test_either_cross_site_sign_alone_is_refused(server, tmp_path, headers):
    marker = tmp_path / "evil"
    answer = execute(server.session(), server.url, marker_code(marker), headers=headers)
    assert answer.status_code == 403, answer.text
    assert not marker.exists()


def test_origin_from_another_port_of_the_same_host_is_refused(server, tmp_path):
    marker = tmp_path / "other-port"
    parts = urlsplit(server.url)
    other = f"{parts.scheme}://{parts.hostname}:{(parts.port or 80) + 1}"
    answer = execute(server.session(), server.url, marker_code(marker),
                     headers={"Origin": other, "Sec-Fetch-Site": "same-site"})
    assert answer.status_code == 403, answer.text
    assert not marker.exists()


def test_get_is_refused_and_runs_nothing(server, tmp_path):
    marker = tmp_path / "get"
    answer = execute(server.session(), server.url, marker_code(marker), method="GET")
    assert answer.status_code == 405, answer.text
    assert not marker.exists()


def test_session_cookie_without_csrf_token_runs_nothing(server, tmp_path):
    """A logged-in browser's cookie alone (same origin even) does not run code."""
    marker = tmp_path / "cookie"
    browser = functional.UI(server).login()
    assert browser.cookies.get("wendelin_session")
    answer = execute(browser, server.url, marker_code(marker),
                     headers={"Origin": f"{urlsplit(server.url).scheme}://"
                                        f"{urlsplit(server.url).netloc}"})
    assert answer.status_code == 403, answer.text
    assert not marker.exists()
    forged = execute(browser, server.url, marker_code(marker),
                     headers={"X-CSRF-Token": "0" * 64})
    assert forged.status_code == 403, forged.text
    assert not marker.exists()


def test_erp5_kernel_request_basic_auth_without_origin_runs(server, tmp_path):
    marker = tmp_path / "kernel"
    answer = execute(server.session(), server.url, marker_code(marker))
    assert answer.status_code == 200, answer.text
    reply = answer.json()
    assert reply["status"] == "ok", reply
    assert re.fullmatch(r"ran\n?", reply["print_result"]["data"]["text/plain"])
    assert marker.read_text() == "ran"


def test_same_origin_browser_marks_are_accepted_with_basic_auth(server, tmp_path):
    """A request that says it is same-origin (Origin = the server's own) still runs."""
    marker = tmp_path / "same-origin"
    parts = urlsplit(server.url)
    answer = execute(server.session(), server.url, marker_code(marker),
                     headers={"Origin": f"{parts.scheme}://{parts.netloc}",
                              "Sec-Fetch-Site": "same-origin"})
    assert answer.status_code == 200, answer.text
    assert marker.exists()

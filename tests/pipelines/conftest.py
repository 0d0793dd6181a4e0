"""A real server with fast activities and a 1 s alarm, and helpers to drive it.

Reuses the functional tests' ``Server`` (``wendelin run`` on a random port over a
temporary instance). Code runs inside the server through the notebook endpoint (the
administrator, one transaction per cell); results are polled with a timeout, since the
work happens in the server's own activity threads.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from typing import Any

import functional_server as functional
import pytest

#: Test modules import the helpers below as ``pipelines_conftest`` (several folders have a
#: ``conftest`` module, so that name is ambiguous).
sys.modules.setdefault("pipelines_conftest", sys.modules[__name__])

Server = functional.Server
UI = functional.UI
PASSWORD = functional.PASSWORD

#: Activities settings of the test servers: quick polls, retries and alarm.
FAST = {
    "WENDELIN_ALARM_PERIOD": "1",
    "WENDELIN_ACTIVITY_POLL": "0.2",
    "WENDELIN_ACTIVITY_BACKOFF": "0.2",
    "WENDELIN_ACTIVITY_RETRIES": "3",
}


class Portal:
    """Runs code in a live server and waits for background results."""

    def __init__(self, server: Any) -> None:
        self.server = server
        self.url = server.url

    def run(self, code: str, expect_ok: bool = True) -> dict:
        """Run Python in the portal (committed unless it raises); the reply JSON."""
        response = self.server.session().post(
            f"{self.server.url}/Base_executeJupyter",
            data={"python_expression": code, "reference": "pipelines-tests",
                  "store_history": ""},
        )
        assert response.status_code == 200, response.text
        reply = response.json()
        if expect_ok:
            assert reply["status"] == "ok", reply
        return reply

    def value(self, expression: str, setup: str = "") -> Any:
        """The JSON value of ``expression`` evaluated in the portal after ``setup``."""
        reply = self.run(f"{setup}\nimport json as _j\nprint(_j.dumps({expression}))")
        text = reply["print_result"]["data"]["text/plain"]
        return json.loads(text)

    def status(self) -> dict:
        """portal_activities' counts, read over HTTP."""
        response = self.server.session().get(f"{self.server.url}/portal_activities/status_json")
        assert response.status_code == 200, response.text
        return response.json()

    def wait(self, predicate: Callable[[], Any], timeout: float = 120, what: str = "") -> Any:
        """Poll ``predicate`` until it is truthy; fail after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            result = predicate()
            if result:
                return result
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what or predicate}")
            time.sleep(0.2)

    def wait_idle(self, timeout: float = 120) -> dict:
        """Wait until no activity is queued or running (failed ones may remain)."""
        return self.wait(lambda: (lambda s: s if s["queued"] + s["running"] == 0 else None)(
            self.status()), timeout, "an empty activity queue")


@pytest.fixture(scope="session")
def pipeline_server(tmp_path_factory):
    srv = Server(tmp_path_factory.mktemp("pipelines-instance"), dict(FAST))
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def portal(pipeline_server) -> Portal:
    return Portal(pipeline_server)


@pytest.fixture(scope="session")
def ui(pipeline_server):
    return UI(pipeline_server)


@pytest.fixture
def make_server(tmp_path):
    """Servers of the test's own (with the fast settings); all stopped at the end."""
    started: list = []

    def factory(**extra_env: str):
        srv = Server(tmp_path / f"instance-{len(started)}", {**FAST, **extra_env})
        started.append(srv)
        return srv

    yield factory
    for srv in started:
        srv.stop()

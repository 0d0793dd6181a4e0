"""A real Wendelin server (``wendelin run``) on a random port over a temporary instance."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

PASSWORD = "functional-secret"
BIN = Path(sys.executable).parent


class Server:
    """Start, stop and restart the real server process; ``url`` is the portal URL."""

    def __init__(self, home: Path, extra_env: dict[str, str] | None = None):
        self.home = home
        self.env = {
            **os.environ,
            "WENDELIN_INSTANCE": str(home),
            "WENDELIN_PORT": "0",
            "WENDELIN_ADMIN_PASSWORD": PASSWORD,
            **(extra_env or {}),
        }
        self.process: subprocess.Popen | None = None
        self.url = ""
        self.output: list[str] = []

    def start(self, timeout: float = 90) -> None:
        self.process = subprocess.Popen(
            [str(BIN / "wendelin"), "run"],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        deadline = time.monotonic() + timeout
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.output.append(line)
            if line.startswith("Wendelin is ready at "):
                self.url = line.split(" at ", 1)[1].strip()
                break
            if time.monotonic() > deadline:
                break
        if not self.url:
            self.stop()
            raise RuntimeError("server did not start:\n" + "".join(self.output))
        # Keep draining output so the server never blocks on a full pipe.
        import threading

        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        for line in self.process.stdout:
            self.output.append(line)

    def stop(self) -> int | None:
        if self.process is None:
            return None
        self.process.send_signal(signal.SIGINT)
        try:
            code = self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait()
        self.process = None
        return code

    def restart(self) -> None:
        self.stop()
        self.start()

    def create(self, module: str, session: requests.Session | None = None, **properties) -> dict:
        """Create a document through the JSON API; return the answer's JSON."""
        response = (session or self.session()).post(
            f"{self.url}/{module}/newContentFromJSON",
            data=json.dumps(properties),
            headers={"Content-Type": "application/json"},
        )
        assert response.status_code == 201, response.text
        return response.json()

    def session(self, user: str = "zope", password: str = PASSWORD) -> requests.Session:
        session = requests.Session()
        session.auth = (user, password)
        return session


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    srv = Server(tmp_path_factory.mktemp("server-instance"))
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture
def admin(server):
    return server.session()


@pytest.fixture
def make_server(tmp_path):
    """Factory for servers of the test's own; all are stopped at the end."""
    started: list[Server] = []

    def factory(**extra_env: str) -> Server:
        srv = Server(tmp_path / f"instance-{len(started)}", extra_env)
        started.append(srv)
        return srv

    yield factory
    for srv in started:
        srv.stop()

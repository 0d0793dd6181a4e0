"""The real server of the tests that talk HTTP: ``Server`` starts ``wendelin run`` on a random
port over a temporary instance; ``UI`` drives it as a browser would (sessions, CSRF).

Imported as ``functional_server`` by every folder that needs a real server (``tests/`` is
on ``sys.path`` through ``tests/conftest.py``); the fixtures stay in each folder's conftest.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import requests
from Products.Wendelin.processes import READY, ProcessOutput

PASSWORD = "functional-secret"
BIN = Path(sys.executable).parent


def written_chars(pid: int) -> int:
    """Bytes the process has written with write(2), pwrite(2) and friends (``wchar``)."""
    with open(f"/proc/{pid}/io") as io:
        for line in io:
            if line.startswith("wchar:"):
                return int(line.split()[1])
    raise RuntimeError(f"no wchar for process {pid}")


class Server:
    """Start, stop and restart the real server process; ``url`` is the portal URL."""

    def __init__(self, home: Path, extra_env: dict[str, str] | None = None):
        self.home = home
        self.env = {
            **os.environ,
            "WENDELIN_INSTANCE": str(home),
            "WENDELIN_PORT": "0",
            "WENDELIN_ADMIN_PASSWORD": PASSWORD,
            "WENDELIN_JUPYTER": "0",  # tests that need Jupyter turn it on
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
        reader = ProcessOutput(self.process, self.output)
        if not reader.read_until(lambda line: line.startswith(READY), timeout):
            self.stop()
            raise RuntimeError("server did not start:\n" + "".join(self.output))
        self.url = self.output[-1].split(" at ", 1)[1].strip()
        reader.drain()

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

    def add_user(
        self, name: str, roles: list[str], password: str | None = None
    ) -> requests.Session:
        """Add a portal user through the standard user folder form; return its session."""
        password = password or "pw-" + name
        response = self.session().post(
            f"{self.url}/acl_users/manage_users",
            data={"submit": "Add", "name": name, "password": password, "confirm": password,
                  "roles:list": roles},
        )
        assert response.status_code == 200, response.text
        return self.session(name, password)




class UI:
    """Helpers for the web UI tests: browser-like sessions, CSRF tokens, fixtures by code."""

    HTML = {"Accept": "text/html,application/xhtml+xml"}

    def __init__(self, server: Server):
        self.server = server
        self.url = server.url

    @staticmethod
    def csrf(html: str) -> str:
        """The first CSRF token of a page."""
        match = re.search(r'name="_csrf" value="([0-9a-f]+)"', html)
        assert match, "no CSRF token in the page"
        return match.group(1)

    def login(self, user: str = "zope", password: str = PASSWORD) -> requests.Session:
        """A cookie session logged in through the login form, like a browser."""
        session = requests.Session()
        session.headers.update(self.HTML)
        form = session.get(f"{self.url}/login_form")
        assert form.status_code == 200, form.text
        answer = session.post(
            f"{self.url}/ERP5Site_login",
            data={"_csrf": self.csrf(form.text), "__ac_name": user, "__ac_password": password,
                  "came_from": self.url},
            allow_redirects=False,
        )
        assert answer.status_code == 303, answer.text
        return session

    def add_user(self, name: str, roles: list[str], password: str = "pw-secret") -> None:
        """Add a portal user through the standard user folder form."""
        self.server.add_user(name, roles, password)

    def run(self, code: str, reference: str = "ui-fixtures") -> dict:
        """Run Python in the portal through the notebook endpoint (admin, Basic auth)."""
        response = self.server.session().post(
            f"{self.url}/Base_executeJupyter",
            data={"python_expression": code, "reference": reference},
        )
        assert response.status_code == 200, response.text
        reply = response.json()
        assert reply["status"] == "ok", reply
        return reply

    @staticmethod
    def wav(seconds: float = 1.0, rate: int = 8000, channels: int = 2) -> bytes:
        """A PCM-16 WAV of sine tones."""
        import io

        import numpy as np
        import soundfile

        t = np.arange(int(seconds * rate)) / rate
        data = np.stack([0.5 * np.sin(2 * np.pi * 220 * (c + 1) * t) for c in range(channels)], 1)
        out = io.BytesIO()
        soundfile.write(out, data, rate, format="WAV", subtype="PCM_16")
        return out.getvalue()

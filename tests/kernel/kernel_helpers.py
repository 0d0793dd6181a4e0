"""Helpers for the kernel tests: the functional tests' server, kernels, Jupyter, users."""

from __future__ import annotations

import http.server
import os
import re
import socket
import ssl
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import functional_server as _functional
import requests
from jupyter_client import KernelManager
from jupyter_client.kernelspec import KernelSpecManager

Server = _functional.Server
PASSWORD: str = _functional.PASSWORD
#: The kernel's and Jupyter's own settings, never inherited from the test's environment.
KERNEL_ENV_KEYS = ("ERP5_URL", "ERP5_USER", "ERP5_PASSWORD", "ERP5_VERIFY_TLS", "JPY_SESSION_NAME")


@dataclass
class Jupyter:
    """The Jupyter a site started: its base URL and token, and an authenticated session."""

    base_url: str
    token: str
    runtime_dir: Path

    def session(self) -> requests.Session:
        session = requests.Session()
        session.headers["Authorization"] = f"token {self.token}"
        return session


def banner_line(server: Any, pattern: str, timeout: float = 30) -> re.Match:
    """Wait for a line of the server's output matching ``pattern``; return the match."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in list(server.output):
            found = re.match(pattern, line)
            if found:
                return found
        time.sleep(0.1)
    raise AssertionError(f"no line matching {pattern!r} in:\n" + "".join(server.output))


def jupyter_of(server: Any) -> Jupyter:
    """The Jupyter of a server, from the ``jupyter:`` line of its banner."""
    found = banner_line(server, r"\s+jupyter:\s+(http://\S+/)tree\?token=(\w+)")
    runtime = Path(server.home) / "var" / "jupyter" / "runtime"
    return Jupyter(found.group(1), found.group(2), runtime)


def free_port() -> int:
    """A port nothing listens on (bound and released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def add_user(server: Any, name: str, roles: list[str]) -> tuple[str, str]:
    """Create a portal user through its user folder; return its credentials."""
    server.add_user(name, roles)
    return name, "pw-" + name


@dataclass
class Cell:
    """What one execution produced: the reply's content and the output messages."""

    reply: dict[str, Any]
    outputs: list[dict[str, Any]] = field(default_factory=list)

    @property
    def status(self) -> str:
        return self.reply["status"]

    def of(self, msg_type: str) -> list[dict[str, Any]]:
        return [m["content"] for m in self.outputs if m["msg_type"] == msg_type]

    def stream(self, name: str = "stdout") -> str:
        return "".join(c["text"] for c in self.of("stream") if c["name"] == name)

    @property
    def result(self) -> str | None:
        results = self.of("execute_result")
        return results[-1]["data"]["text/plain"] if results else None

    @property
    def error(self) -> dict[str, Any]:
        errors = self.of("error")
        assert len(errors) == 1, self.outputs
        return errors[0]


class Kernel:
    """A running ERP5 kernel and a blocking client to it."""

    def __init__(self, kernel_dirs: list[str], env: dict[str, str]):
        base = {k: v for k, v in os.environ.items() if k not in KERNEL_ENV_KEYS}
        self.manager = KernelManager(
            kernel_name="erp5", kernel_spec_manager=KernelSpecManager(kernel_dirs=kernel_dirs)
        )
        self.manager.start_kernel(env={**base, **env})
        self.client = self.manager.client()
        self.client.start_channels()
        self.client.wait_for_ready(timeout=60)

    def run(self, code: str, timeout: float = 90) -> Cell:
        cell = Cell({})
        kinds = {"stream", "display_data", "execute_result", "error"}

        def keep(msg: dict[str, Any]) -> None:
            if msg["msg_type"] in kinds:
                cell.outputs.append(msg)

        cell.reply = self.client.execute_interactive(code, output_hook=keep, timeout=timeout)[
            "content"
        ]
        return cell

    def shutdown(self) -> None:
        self.client.stop_channels()
        self.manager.shutdown_kernel(now=True)


class _Replying(http.server.ThreadingHTTPServer):
    daemon_threads = True


def _serve(server: http.server.HTTPServer) -> None:
    threading.Thread(target=server.serve_forever, daemon=True).start()


class StubServer:
    """A real HTTP server answering every request with one fixed status and body."""

    def __init__(self, status: int, body: str, content_type: str = "text/html"):
        class Handler(http.server.BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                payload = body.encode()
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = _answer

            def log_message(self, *args: Any) -> None:
                pass

        self.server = _Replying(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/erp5"
        _serve(self.server)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class TLSProxy:
    """An HTTPS front for a site, with a self-signed certificate made by openssl."""

    def __init__(self, site_url: str, directory: Path):
        self.cert, key = directory / "cert.pem", directory / "key.pem"
        subprocess.run(
            [
                "openssl",
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "1",
                "-keyout",
                str(key),
                "-out",
                str(self.cert),
                "-subj",
                "/CN=127.0.0.1",
                "-addext",
                "subjectAltName=IP:127.0.0.1",
            ],
            check=True,
            capture_output=True,
        )
        parts = urlsplit(site_url)
        origin = f"{parts.scheme}://{parts.netloc}"

        class Handler(http.server.BaseHTTPRequestHandler):
            def _forward(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                answer = requests.request(
                    self.command, origin + self.path, data=body, headers=headers, timeout=60
                )
                self.send_response(answer.status_code)
                self.send_header("Content-Type", answer.headers.get("Content-Type", "text/plain"))
                self.send_header("Content-Length", str(len(answer.content)))
                self.end_headers()
                self.wfile.write(answer.content)

            do_GET = do_POST = _forward

            def log_message(self, *args: Any) -> None:
                pass

        self.server = _Replying(("127.0.0.1", 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert, key)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.url = f"https://127.0.0.1:{self.server.server_address[1]}{parts.path}"
        _serve(self.server)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

"""Start Jupyter (Notebook 7) next to the Wendelin server, as a child process.

Jupyter gets the ERP5 kernel as its default, the Data Notebook contents manager, a
token kept in ``<var>/jupyter-token`` (mode 0600, generated once), and the site's URL
and credentials in its environment. Its files (runtime, kernelspec, notebook signatures)
live under ``<var>/jupyter/`` and its log in ``<var>/log/jupyter.log``.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import requests

from .install import write_kernelspec

TOKEN_FILE = "jupyter-token"
#: Where the running Jupyter's base URL is written for the site's "Open in Jupyter" links.
URL_FILE = "jupyter-url"


class JupyterStartError(RuntimeError):
    """Jupyter exited or did not answer in time; the message points at its log."""


def resolve_token(var: Path) -> str:
    """Return the Jupyter token stored in ``var``, creating it (mode 0600) on first use."""
    path = Path(var) / TOKEN_FILE
    if path.exists():
        text = path.read_text()
        if text.strip() == text and text:
            return text
        path.unlink()  # empty, or edited by hand: Jupyter reads the file as it is
        token = text.strip() or secrets.token_hex(24)
    else:
        token = secrets.token_hex(24)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as stream:
        stream.write(token)
    return token


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    """Ask Linux to send SIGTERM to Jupyter if the server dies without stopping it."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


@dataclass
class JupyterProcess:
    """A running Jupyter server: wait until it answers, give its URL, stop it."""

    process: subprocess.Popen
    token: str
    host: str
    runtime_dir: Path
    log_path: Path
    port: int = 0
    _log_file: object = field(default=None, repr=False)

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/"

    @property
    def url(self) -> str:
        """The URL to open in a browser: the file browser, logged in with the token."""
        return f"{self.base_url}tree?token={self.token}"

    def _log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def wait_ready(self, timeout: float = 60) -> str:
        """Wait until Jupyter answers its status API; return the browser URL."""
        info_file = self.runtime_dir / f"jpserver-{self.process.pid}.json"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise JupyterStartError(
                    f"Jupyter exited with status {self.process.returncode}; "
                    f"see {self.log_path}:\n{self._log_tail()}"
                )
            if not self.port and info_file.exists():  # written once Jupyter has bound its port
                try:
                    self.port = int(json.loads(info_file.read_text())["port"])
                except (ValueError, KeyError):
                    pass  # being written
            if self.port:
                try:
                    answer = requests.get(
                        self.base_url + "api/status",
                        headers={"Authorization": f"token {self.token}"},
                        timeout=2,
                    )
                    if answer.status_code == 200:
                        return self.url
                except requests.RequestException:
                    pass
            time.sleep(0.1)
        raise JupyterStartError(
            f"Jupyter did not answer within {timeout:g} s; see {self.log_path}:\n"
            + self._log_tail()
        )

    def stop(self, timeout: float = 15) -> int | None:
        """Stop Jupyter (it shuts its kernels down); kill it if it does not exit in time."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self._log_file is not None:
            self._log_file.close()  # type: ignore[attr-defined]
            self._log_file = None
        return self.process.returncode


#: Default of the portal's notebook quota (``WENDELIN_MAX_NOTEBOOK_BYTES``), 256 MiB.
DEFAULT_MAX_NOTEBOOK_BYTES = 256 << 20
_SIZE_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}


def max_notebook_bytes(environ: Mapping[str, str] | None = None) -> int:
    """The portal's notebook quota as Jupyter must accept it (``256MiB``, ``2G``, bytes)."""
    text = (os.environ if environ is None else environ).get("WENDELIN_MAX_NOTEBOOK_BYTES", "")
    found = re.fullmatch(r"\s*(\d+)\s*([KMG]?)(?:i?B)?\s*", text, re.I)
    if not found:
        return DEFAULT_MAX_NOTEBOOK_BYTES
    return int(found.group(1)) * _SIZE_UNITS[found.group(2).upper()]


def jupyter_command(
    python: str, host: str, port: int, root: Path, notary_db: Path, max_body: int | None = None
) -> list[str]:
    """The command line starting Notebook 7 with the ERP5 kernel and contents manager.

    The token is not on it (command lines are public): Jupyter reads JUPYTER_TOKEN_FILE.
    Jupyter accepts request bodies up to the portal's notebook quota (plus the model's
    envelope), so the portal's 413 is what a too big notebook gets, not tornado's limit.
    """
    body = (max_body if max_body is not None else max_notebook_bytes()) + (1 << 20)
    as_root = ["--allow-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []
    return [
        python,
        "-m",
        "notebook",
        *as_root,
        "--no-browser",
        f"--ServerApp.ip={host}",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--ServerApp.root_dir={root}",
        "--ServerApp.contents_manager_class=erp5_kernel.contents.Erp5ContentsManager",
        "--MappingKernelManager.default_kernel_name=erp5",
        f"--NotebookNotary.db_file={notary_db}",
        f"--ServerApp.max_body_size={body}",
        f"--ServerApp.max_buffer_size={body}",
    ]


def start_jupyter(
    site_url: str,
    user: str,
    password: str,
    var: Path,
    port: int = 8888,
    host: str = "127.0.0.1",
    python: str | None = None,
) -> JupyterProcess:
    """Start Jupyter for the site at ``site_url``; return at once (see ``wait_ready``)."""
    var = Path(var)
    home = var / "jupyter"
    runtime, share, root = home / "runtime", home / "share", home / "notebooks"
    for directory in (runtime, share, root, var / "log"):
        directory.mkdir(parents=True, exist_ok=True)
    runtime.chmod(0o700)
    python = python or sys.executable
    write_kernelspec(share / "kernels", python)
    token = resolve_token(var)
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("JUPYTER_TOKEN", "JPY_SESSION_NAME")},
        "JUPYTER_TOKEN_FILE": str(var / TOKEN_FILE),
        "ERP5_URL": site_url,
        "ERP5_USER": user,
        "ERP5_PASSWORD": password,
        "JUPYTER_RUNTIME_DIR": str(runtime),
        "JUPYTER_PATH": os.pathsep.join(filter(None, [str(share), os.environ.get("JUPYTER_PATH")])),
    }
    log_path = var / "log" / "jupyter.log"
    log_file = open(log_path, "ab")  # noqa: SIM115 - closed by JupyterProcess.stop
    process = subprocess.Popen(
        jupyter_command(python, host, port, root, home / "nbsignatures.db"),
        env=env,
        cwd=root,
        stdin=subprocess.DEVNULL,
        stdout=log_file,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # Ctrl-C in the terminal reaches the server only
        preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
    )
    return JupyterProcess(process, token, host, runtime, log_path, _log_file=log_file)


def port_is_free(host: str, port: int) -> bool:
    """Whether a server could listen on ``host:port`` now (checked before starting Jupyter)."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def start_for_site(
    site_url: str, user: str, password: str, var: Path, port: int, timeout: float = 60
) -> tuple[JupyterProcess | None, str]:
    """Start Jupyter for ``wendelin run``; return it (None if it failed) and a banner line.

    A Jupyter that does not start never stops the site: the line says why instead.
    """
    (Path(var) / URL_FILE).unlink(missing_ok=True)  # no link to a Jupyter that is not there
    if port and not port_is_free("127.0.0.1", port):
        return None, f"  jupyter:  not started: port {port} is in use (WENDELIN_JUPYTER_PORT)"
    try:
        jupyter = start_jupyter(site_url, user, password, var, port=port)
    except OSError as exc:
        return None, f"  jupyter:  not started: {exc}"
    try:
        url = jupyter.wait_ready(timeout)
    except JupyterStartError as exc:
        jupyter.stop()
        return None, f"  jupyter:  not started: {str(exc).splitlines()[0]}"
    (Path(var) / URL_FILE).write_text(jupyter.base_url)
    return jupyter, f"  jupyter:  {url}  (token stored in {Path(var) / TOKEN_FILE})"

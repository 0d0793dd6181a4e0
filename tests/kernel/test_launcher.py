"""``wendelin run`` starts Jupyter as a child, prints its URL and token, and stops it."""

from __future__ import annotations

import json
import socket
import stat
from pathlib import Path

import pytest
import requests
from kernel_helpers import Server, banner_line, jupyter_of

from erp5_kernel.launcher import JupyterStartError, start_jupyter


def alive(pid: int) -> bool:
    """Whether ``pid`` is a live (not zombie) process."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def pids_with(fragment: str) -> list[int]:
    """Processes whose command line contains ``fragment``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if fragment in cmdline:
                found.append(int(entry.name))
    return found


def test_banner_token_and_clean_stop(tmp_path):
    server = Server(tmp_path / "instance", {"WENDELIN_JUPYTER": "1"})
    server.start()
    try:
        jupyter = jupyter_of(server)
        token_file = tmp_path / "instance" / "var" / "jupyter-token"
        assert token_file.read_text().strip() == jupyter.token
        assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
        assert f"(token stored in {token_file})" in "".join(server.output)
        assert requests.get(f"{jupyter.base_url}api/contents").status_code == 403  # no token
        # the notebook page's "Open in Jupyter" link goes to this Jupyter's random port
        created = server.create("data_notebook_module", portal_type="Data Notebook",
                                reference="launcher-link")
        page = server.session().get(f"{created['url']}/view", headers={"Accept": "text/html"})
        assert f'href="{jupyter.base_url}notebooks/launcher-link.ipynb"' in page.text
        assert pids_with(jupyter.token) == []  # not on any command line
        (info,) = jupyter.runtime_dir.glob("jpserver-*.json")
        jupyter_pid = json.loads(info.read_text())["pid"]
        started = jupyter.session().post(
            f"{jupyter.base_url}api/sessions",
            json={"path": "launcher.ipynb", "name": "launcher.ipynb", "type": "notebook"},
        )
        assert started.status_code == 201, started.text
        kernel_pids = pids_with(f"kernel-{started.json()['kernel']['id']}.json")
        assert kernel_pids and alive(jupyter_pid)
    finally:
        assert server.stop() == 0
    assert "Wendelin stopped." in "".join(server.output)
    assert not alive(jupyter_pid)
    assert not any(alive(pid) for pid in kernel_pids)


def test_jupyter_that_cannot_start_does_not_stop_the_site(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        server = Server(
            tmp_path / "instance", {"WENDELIN_JUPYTER": "1", "WENDELIN_JUPYTER_PORT": str(port)}
        )
        server.start()
        try:
            line = banner_line(server, r"\s+jupyter:\s+not started: (.*)").group(1)
            assert line == f"port {port} is in use (WENDELIN_JUPYTER_PORT)"
            assert server.session().get(server.url).status_code == 200
        finally:
            assert server.stop() == 0


def test_jupyter_that_exits_is_reported_with_its_log(tmp_path):
    fake = tmp_path / "python"
    fake.write_text("#!/bin/sh\necho 'cannot start: boom'\nexit 3\n")
    fake.chmod(0o755)
    jupyter = start_jupyter("http://127.0.0.1:1/erp5", "u", "p", tmp_path / "var", python=str(fake))
    try:
        with pytest.raises(JupyterStartError) as raised:
            jupyter.wait_ready(timeout=20)
    finally:
        jupyter.stop()
    message = str(raised.value)
    assert message.startswith("Jupyter exited with status 3; see ")
    assert str(tmp_path / "var" / "log" / "jupyter.log") in message
    assert "cannot start: boom" in message

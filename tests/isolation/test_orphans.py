"""A server SIGKILLed mid-cell takes its cell processes with it: nothing outlives it."""

from __future__ import annotations

import os
import signal
import threading
import time

import requests
from isolation_helpers import Server


def _processes_with(marker: str) -> list[int]:
    """Pids of live processes whose command line names ``marker``."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as handle:
                cmdline = handle.read().replace(b"\0", b" ").decode(errors="replace")
            with open(f"/proc/{entry}/stat") as handle:
                state = handle.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if marker in cmdline and state != "Z":
            found.append(int(entry))
    return found


def _kill_and_expect_no_survivors(server: Server, marker: str, grace: float = 10) -> None:
    """SIGKILL the server; within ``grace`` seconds no process of its instance may live."""
    server.process.send_signal(signal.SIGKILL)
    server.process.wait()
    server.process = None
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and _processes_with(marker):
        time.sleep(0.2)
    assert _processes_with(marker) == [], "cell processes outlived their server"


def _clean_up(server: Server, marker: str) -> None:
    for pid in _processes_with(marker):
        os.kill(pid, signal.SIGKILL)
    server.stop()


def test_cell_processes_die_with_a_killed_server(tmp_path):
    server = Server(tmp_path / "site", {"WENDELIN_CELL_WORKERS": "2", "WENDELIN_CELL_SPARE": "1"})
    server.start()
    marker = str(tmp_path / "site")
    try:
        session = server.session()
        # a cell that runs for a while: the server dies under it
        busy = threading.Thread(target=lambda: _post_quietly(
            session, f"{server.url}/Base_executeJupyter",
            {"python_expression": "import time\nfor _ in range(300): time.sleep(0.1)",
             "reference": "orphan-check"}), daemon=True)
        busy.start()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(_processes_with(marker)) < 3:
            time.sleep(0.2)   # the server, the zygote and at least one cell process
        assert len(_processes_with(marker)) >= 3, "cell processes did not start"
        _kill_and_expect_no_survivors(server, marker)
    finally:
        _clean_up(server, marker)


def _post_quietly(session: requests.Session, url: str, data: dict) -> None:
    try:
        session.post(url, data=data, timeout=120)
    except requests.RequestException:
        pass  # the server was killed: no answer is expected


def test_a_zygote_still_starting_dies_with_a_killed_server(tmp_path):
    """Killed while the cell zygote configures Zope (seconds): it must not live on."""
    server = Server(tmp_path / "site", {"WENDELIN_CELL_WORKERS": "2", "WENDELIN_CELL_SPARE": "1"})
    marker = str(tmp_path / "site")
    server.start()
    try:
        deadline = time.monotonic() + 60
        zygotes: list[int] = []
        while time.monotonic() < deadline and not zygotes:
            zygotes = [pid for pid in _processes_with(marker) if pid != server.process.pid]
            time.sleep(0.02)
        assert zygotes, "the cell zygote did not start"
        _kill_and_expect_no_survivors(server, marker)
    finally:
        _clean_up(server, marker)


def test_a_zygote_whose_server_died_while_it_started_exits():
    """The zygote is told its server's pid: killed before the zygote's interpreter ran,
    the server has already handed it to another parent, which must not count as its."""
    import subprocess
    import sys

    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()  # a pid that is no longer the parent of anything
    child = subprocess.Popen([sys.executable, "-c", (
        "import sys, time\n"
        "from Products.Wendelin.jupyter.worker import _exit_when_orphaned\n"
        f"_exit_when_orphaned({gone.pid}, period=0.05)\n"
        "time.sleep(120)\n"
        "sys.exit(3)\n")])
    try:
        assert child.wait(timeout=60) == 0, "the zygote outlived the server that started it"
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()

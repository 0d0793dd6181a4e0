"""Limits of cell processes: memory, a killed process, and interrupts over HTTP.

Each test fails with cells in the server's threads: a MemoryError there names no limit
and the server grows, a SIGKILL ends the server, and there is nothing to interrupt.
"""

from __future__ import annotations

import os
import signal
import threading
import time

import psutil
from isolation_helpers import CELL_MEMORY, interrupt, run_cell, value
from Products.Wendelin.settings import parse_size

GRAB_MEMORY = (
    "chunks = []\n"
    "while True:\n"
    "    chunks.append(bytearray(1 << 30))  # a GiB at a time, written (zeroed)\n"
)


def test_a_cell_beyond_its_memory_limit_gets_an_error_and_the_server_stays_up(cells_server):
    server = cells_server
    code = "import os\nkept = 'yes'\nos.environ['WENDELIN_CELL_PID']"
    before = value(run_cell(server, code, "memory"))
    reply = run_cell(server, GRAB_MEMORY, "memory")
    assert (reply["status"], reply["ename"]) == ("error", "MemoryError")
    assert "WENDELIN_CELL_MEMORY" in reply["evalue"]
    assert f"{parse_size(CELL_MEMORY) / 1024**3:.2f} GiB" in reply["evalue"]
    assert server.session().get(f"{server.url}/data_notebook_module/view").status_code == 200
    after = value(run_cell(server, "kept, os.environ['WENDELIN_CELL_PID']", "memory"))
    assert after.startswith("('yes', ") and after != f"('yes', {before})"  # a new process
    server_process = psutil.Process(server.process.pid)
    assert server_process.memory_info().rss < 1024**3  # the server never held the GiBs


def test_a_cell_process_killed_mid_cell_gives_an_error_and_the_next_cell_works(
    cells_server, tmp_path
):
    server = cells_server
    first = run_cell(server, "kept = 41", "killed")
    assert first["status"] == "ok", first
    pid_file = tmp_path / "pid"
    killer_error: list[BaseException] = []

    def kill_when_started() -> None:
        try:
            deadline = time.monotonic() + 60
            while not pid_file.exists() or not pid_file.read_text():
                assert time.monotonic() < deadline
                time.sleep(0.05)
            os.kill(int(pid_file.read_text()), signal.SIGKILL)
        except BaseException as error:  # noqa: BLE001  (reported by the test)
            killer_error.append(error)

    killer = threading.Thread(target=kill_when_started)
    killer.start()
    reply = run_cell(
        server,
        f"import os, time\nkept = 0\n"
        f"open({str(pid_file)!r}, 'w').write(os.environ['WENDELIN_CELL_PID'])\n"
        "time.sleep(60)",
        "killed",
    )
    killer.join()
    assert not killer_error
    assert (reply["status"], reply["ename"]) == ("error", "CellProcessDied")
    assert "SIGKILL" in reply["evalue"]
    assert value(run_cell(server, "kept + 1", "killed")) == "42"  # the killed cell left nothing


def test_http_interrupt_of_a_cell_stuck_in_c_code_replaces_its_process(cells_server, tmp_path):
    """SIGINT blocked in the cell's thread and a C call: the watchdog ends the process."""
    server = cells_server
    assert run_cell(server, "kept = 'here'", "stuck")["status"] == "ok"
    started = tmp_path / "started"
    result: dict = {}
    cell = threading.Thread(target=lambda: result.update(reply=run_cell(server, (
        "import ctypes, signal\n"
        "signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})\n"
        f"open({str(started)!r}, 'w').close()\n"
        "ctypes.CDLL(None).sleep(60)\n"), "stuck")))
    cell.start()
    deadline = time.monotonic() + 60
    while not started.exists():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert interrupt(server, "stuck")["interrupted"] is True
    cell.join(timeout=30)
    assert not cell.is_alive()
    reply = result["reply"]
    assert (reply["status"], reply["ename"]) == ("error", "KeyboardInterrupt")
    assert "did not stop" in reply["evalue"] and "replaced" in reply["evalue"]
    assert value(run_cell(server, "kept", "stuck")) == "'here'"
    assert interrupt(server, "stuck")["interrupted"] is False  # nothing runs now


def test_interrupt_needs_the_permission(cells_server):
    server = cells_server
    auditor = server.add_user("isolation-auditor", ["Auditor"])
    response = auditor.post(f"{server.url}/Base_interruptJupyter",
                            data={"reference": "stuck"}, timeout=10)
    assert response.status_code == 403
    assert server.session().get(f"{server.url}/Base_interruptJupyter",
                                params={"reference": "stuck"}).status_code == 405

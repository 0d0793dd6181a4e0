"""Another server process of the same database finds and interrupts a running cell.

Server processes of one database (``make cluster`` on one machine) share a registry
directory: each cell process has a ``cell-<pid>`` note naming the notebook it runs. The
test process plays the other server process: it reads the registry the way
``CellPool.interrupt`` does for a cell it does not run itself, and sends the SIGINT.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

from isolation_helpers import run_cell, value
from Products.Wendelin import server as wendelin_server
from Products.Wendelin.jupyter.pool import (
    NOTE_PREFIX,
    registered_pid,
    remove_stale_notes,
    runtime_dir,
)
from Products.Wendelin.settings import Settings


def _registry(server) -> Path:
    settings = Settings.from_environ(server.env)
    return runtime_dir(str(wendelin_server.zeo_socket_path(settings)))


def test_a_running_cell_is_found_and_interrupted_from_another_process(cells_server, tmp_path):
    server = cells_server
    registry = _registry(server)
    assert value(run_cell(server, "kept = 'stays'\n__name__", "registry")).startswith(
        "'wendelin_notebook_")
    started = tmp_path / "started"
    result: dict = {}
    cell = threading.Thread(target=lambda: result.update(reply=run_cell(server, (
        "import os\nkept = 'rolled back'\n"
        "pid = os.environ['WENDELIN_CELL_PID']\n"
        f"open({str(started)!r}, 'w').write(f'{{__name__}} {{pid}}')\n"
        "while True:\n    pass\n"), "registry")))
    cell.start()
    deadline = time.monotonic() + 60
    while not started.exists() or not started.read_text():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    key, pid = started.read_text().split()
    assert registered_pid(registry, key) == int(pid)
    assert registered_pid(registry, key + "-other") is None
    os.kill(int(pid), signal.SIGINT)
    cell.join(timeout=30)
    assert not cell.is_alive()
    reply = result["reply"]
    assert (reply["status"], reply["ename"]) == ("error", "KeyboardInterrupt"), reply
    assert registered_pid(registry, key) is None  # the finished cell's note is cleared
    assert value(run_cell(server, "kept", "registry")) == "'stays'"


def test_notes_of_processes_that_are_gone_are_ignored_and_removed(cells_server):
    """A server killed with its cell processes leaves their notes; the next one removes
    them at start. A note whose pid is not a cell process never names the runner."""
    registry = _registry(cells_server)
    assert run_cell(cells_server, "1", "registry-stale")["status"] == "ok"
    live = list(registry.glob(f"{NOTE_PREFIX}*"))
    assert live  # the server's cell processes, idle
    stale = registry / f"{NOTE_PREFIX}{os.getpid()}"  # this test process: not a cell process
    stale.write_bytes(b"wendelin_notebook_stale".ljust(256))
    assert registered_pid(registry, "wendelin_notebook_stale") is None
    remove_stale_notes(registry)
    assert not stale.exists()
    assert set(live) <= set(registry.glob(f"{NOTE_PREFIX}*"))  # live processes keep theirs

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

from isolation_helpers import run_cell, value
from Products.Wendelin import server as wendelin_server
from Products.Wendelin.jupyter.pool import registered_pid, runtime_dir
from Products.Wendelin.settings import Settings


def test_a_running_cell_is_found_and_interrupted_from_another_process(cells_server, tmp_path):
    server = cells_server
    settings = Settings.from_environ(server.env)
    registry = runtime_dir(str(wendelin_server.zeo_socket_path(settings)))
    assert value(run_cell(server, "kept = 'stays'\n__name__", "registry")).startswith(
        "'wendelin_notebook_")
    started = tmp_path / "started"
    result: dict = {}
    cell = threading.Thread(target=lambda: result.update(reply=run_cell(server, (
        "import os\nkept = 'rolled back'\n"
        f"open({str(started)!r}, 'w').write(f'{{__name__}} {{os.getpid()}}')\n"
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

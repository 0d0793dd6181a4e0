"""What a cell leaves running ends with it: its processes (daemons that double-forked
included) once it is over, its threads with its process, and the processes of a cell
whose process was killed (here: an interrupt it ignored).

Without this, a cell's `sleep 300 &` or a spinning thread kept running, outside every
limit, after the cell had answered.
"""

from __future__ import annotations

import os
import threading
import time

import psutil
from isolation_helpers import interrupt, run_cell, value


def _gone(pid: int, within: float = 10.0) -> bool:
    """True once ``pid`` no longer runs (gone or a zombie) within ``within`` seconds."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.05)
    return False


def _notes(reply: dict) -> str:
    return "".join(item["data"]["text/plain"] for item in reply["extra_data_list"]
                   if item.get("metadata", {}).get("name") == "stderr")


def test_processes_a_cell_started_end_when_it_is_over(cells_server, tmp_path):
    pids = tmp_path / "pids"
    reply = run_cell(cells_server, (
        "import os, subprocess\n"
        "child = subprocess.Popen(['sleep', '300'])\n"
        # a daemon: its parent exits at once, it lives on in a session of its own
        f"subprocess.run(['sh', '-c', 'setsid sleep 301 & echo $! > {pids}'], check=True)\n"
        "held = 1\n"
        "(os.getpid(), child.pid)"), "leftover-processes")
    assert reply["status"] == "ok", reply
    worker, child = (int(part) for part in value(reply).strip("()").split(","))
    daemon = int(pids.read_text())
    assert _gone(child) and _gone(daemon)
    assert "2 process(es) the cell started were still running" in _notes(reply)
    after = run_cell(cells_server, "import os\n(os.getpid(), held)", "leftover-processes")
    assert value(after) == f"({worker}, 1)"  # the same process carries on, variables kept
    assert "process(es)" not in _notes(after)


def test_a_thread_a_cell_left_running_ends_with_its_process(cells_server):
    reply = run_cell(cells_server, (
        "import os, threading, time\n"
        "threading.Thread(target=time.sleep, args=(300,), name='spinner', daemon=True).start()\n"
        "kept = 'yes'\n"
        "os.getpid()"), "leftover-thread")
    assert reply["status"] == "ok", reply
    worker = int(value(reply))
    assert "left 1 thread(s) running (spinner)" in _notes(reply)
    assert _gone(worker)
    after = run_cell(cells_server, "import os\n(os.getpid(), kept)", "leftover-thread")
    pid, kept = value(after).strip("()").split(", ")
    assert int(pid) != worker and kept == "'yes'"
    assert "thread" not in _notes(after)


def test_the_processes_of_a_cell_whose_process_was_killed_end_too(cells_server, tmp_path):
    started, pids = tmp_path / "started", tmp_path / "pids"
    result: dict = {}
    cell = threading.Thread(target=lambda: result.update(reply=run_cell(cells_server, (
        "import ctypes, os, signal, subprocess\n"
        f"subprocess.run(['sh', '-c', 'setsid sleep 302 & echo $! > {pids}'], check=True)\n"
        "signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})\n"
        f"open({str(started)!r}, 'w').close()\n"
        "ctypes.CDLL(None).sleep(60)\n"), "leftover-killed")))
    cell.start()
    deadline = time.monotonic() + 60
    while not started.exists():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    daemon = int(pids.read_text())
    assert psutil.pid_exists(daemon)
    assert interrupt(cells_server, "leftover-killed")["interrupted"] is True
    cell.join(timeout=30)
    assert result["reply"]["ename"] == "KeyboardInterrupt"
    assert _gone(daemon)
    assert os.getpid() != daemon

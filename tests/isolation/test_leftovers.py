"""What a cell leaves running ends with it: its processes (daemons that double-forked,
fork storms and re-forking chains included) once it is over, its threads with its
process, and the processes of a cell whose process was killed.

Every case runs twice: with the cell's processes in a pid namespace of their own (the
default where the server may create one) and without (``WENDELIN_CELL_NAMESPACE=0``:
the cell process ends the tree below it, as a subreaper). Without this, a cell's
``sleep 300 &`` or a spinning thread kept running, outside every limit, after the cell
had answered.
"""

from __future__ import annotations

import ctypes
import os
import platform
import threading
import time
import uuid

import psutil
import pytest
from isolation_helpers import CELL_MEMORY, Server, interrupt, run_cell, value

#: clone(2)'s number where the test knows it, for a process created with CLONE_PARENT.
SYS_CLONE = {"x86_64": 56, "aarch64": 220}.get(platform.machine())


@pytest.fixture(scope="module", params=["namespace", "subreaper"])
def server(request, tmp_path_factory):
    """A server per way of ending a cell's processes."""
    server = Server(tmp_path_factory.mktemp(f"leftovers-{request.param}"), {
        "WENDELIN_CELL_MEMORY": CELL_MEMORY,
        "WENDELIN_CELL_WORKERS": "4",
        "WENDELIN_CELL_SPARE": "1",
        "WENDELIN_CELL_NAMESPACE": "1" if request.param == "namespace" else "0",
    })
    server.start()
    server.mode = request.param
    yield server
    server.stop()


def _may_create_pid_namespaces() -> bool:
    """Whether this machine lets a process like the server create a pid namespace."""
    pid = os.fork()
    if pid == 0:
        libc = ctypes.CDLL(None, use_errno=True)
        os._exit(0 if libc.unshare(0x20000000) == 0 else 1)
    return os.waitpid(pid, 0)[1] == 0


def _marker() -> str:
    """A ``sleep`` argument no other process has: finds the processes a test started."""
    return f"3{uuid.uuid4().int % 10**6:06d}"


def _running(marker: str) -> list[int]:
    """The pids of live (not zombie) processes whose command line holds ``marker``."""
    found = []
    for process in psutil.process_iter(["cmdline", "status"]):
        try:
            if (marker in " ".join(process.info["cmdline"] or ())
                    and process.info["status"] != psutil.STATUS_ZOMBIE):
                found.append(process.pid)
        except psutil.Error:
            continue
    return found


def _all_gone(marker: str, within: float = 20.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if not _running(marker):
            return True
        time.sleep(0.05)
    return False


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


def test_processes_a_cell_started_end_when_it_is_over(server):
    marker = _marker()
    reply = run_cell(server, (
        "import os, subprocess\n"
        f"child = subprocess.Popen(['sleep', '{marker}'])\n"
        # a daemon: its parent exits at once, it lives on in a session of its own
        f"subprocess.run(['sh', '-c', 'setsid sleep {marker}.5 &'], check=True)\n"
        "held = 1\n"
        "(int(os.environ['WENDELIN_CELL_PID']), child.pid)"),
        f"leftover-processes-{server.mode}")
    assert reply["status"] == "ok", reply
    worker, child = (int(part) for part in value(reply).strip("()").split(","))
    assert _all_gone(marker)
    assert "2 process(es) the cell started were still running" in _notes(reply)
    after = run_cell(server, "import os\n(int(os.environ['WENDELIN_CELL_PID']), held)",
                     f"leftover-processes-{server.mode}")
    assert value(after) == f"({worker}, 1)"  # the same process carries on, variables kept
    assert "process(es)" not in _notes(after)


def test_a_cell_process_is_a_pid_namespace_of_its_own_where_the_server_may_make_one(server):
    reply = run_cell(server, "import os\n(os.readlink('/proc/self/ns/pid'), os.getpid(), "
                             "int(os.environ['WENDELIN_CELL_PID']))",
                     f"leftover-namespace-{server.mode}")
    namespace, pid, outside = (part.strip(" '") for part in value(reply).strip("()").split(","))
    wanted = server.mode == "namespace" and _may_create_pid_namespaces()
    assert (namespace != os.readlink("/proc/self/ns/pid")) is wanted
    assert (pid == "1") is wanted  # its init: what it started cannot outlive it
    assert "Products.Wendelin.jupyter.worker" in " ".join(psutil.Process(int(outside)).cmdline())


def test_a_process_that_ended_by_itself_is_not_counted(server):
    reply = run_cell(server, (
        "import subprocess, time\n"
        "done = subprocess.Popen(['true'])\n"  # never waited for: a zombie at the cell's end
        "time.sleep(0.5)\n"
        "done.pid"), f"leftover-zombie-{server.mode}")
    assert reply["status"] == "ok", reply
    assert "process(es)" not in _notes(reply)


def test_a_fork_storm_ends_and_the_next_cell_is_not_blamed(server):
    marker = _marker()
    # a tree of 2**6 processes that all keep forking short-lived children, each in a
    # session of its own: the cell returns while it grows
    storm = (
        "import os, time\n"
        "def grow(depth):\n"
        "    if depth:\n"
        "        for _ in range(2):\n"
        "            if os.fork() == 0:\n"
        "                os.setsid()\n"
        "                grow(depth - 1)\n"
        "                os._exit(0)\n"
        "    else:\n"
        "        while True:\n"
        "            try:\n"
        f"                os.spawnvp(os.P_NOWAIT, 'sleep', ['sleep', '{marker}'])\n"
        "            except OSError:\n"
        "                pass\n"
        "            time.sleep(0.1)\n"
        "    while True:\n"
        "        time.sleep(1)\n"
        "if os.fork() == 0:\n"
        "    grow(6)\n"
        "time.sleep(0.5)\n"
        "stormed = True\n"
    )
    reference = f"leftover-storm-{server.mode}"
    reply = run_cell(server, storm, reference)
    assert reply["status"] == "ok", reply
    assert "process(es) the cell started were still running" in _notes(reply)
    assert _all_gone(marker)
    after = run_cell(server, "stormed", reference)
    assert value(after) == "True"
    assert "process(es)" not in _notes(after)  # nothing left over is blamed on this cell


def test_a_re_forking_chain_ends(server):
    marker = _marker()
    # each generation forks the next and exits at once: always new, never waiting
    chain = (
        "import os, time\n"
        "if os.fork() == 0:\n"
        "    while True:\n"
        "        time.sleep(0.01)\n"
        "        if os.fork():\n"
        "            os._exit(0)\n"
        "        os.setsid()\n"
        f"        if not os.fork():\n"
        f"            os.execvp('sleep', ['sleep', '{marker}'])\n"
    )
    reply = run_cell(server, chain + "'chained'", f"leftover-chain-{server.mode}")
    assert reply["status"] == "ok", reply
    assert _all_gone(marker)
    time.sleep(1)
    assert not _running(marker)  # and none came back


@pytest.mark.skipif(SYS_CLONE is None, reason="clone(2)'s number is not known here")
def test_a_process_cloned_as_the_cells_sibling_ends(server):
    marker = _marker()
    reply = run_cell(server, (
        "import ctypes, os\n"
        "CLONE_PARENT, SIGCHLD = 0x8000, 17\n"
        f"pid = ctypes.CDLL(None, use_errno=True).syscall({SYS_CLONE}, CLONE_PARENT | SIGCHLD,"
        " 0, 0, 0, 0)\n"
        "if pid == 0:\n"
        f"    os.execvp('sleep', ['sleep', '{marker}'])\n"
        "pid"), f"leftover-clone-{server.mode}")
    # the init of a pid namespace may not have siblings: the kernel refuses the clone there
    assert (int(value(reply)) == -1) is (server.mode == "namespace")
    assert _all_gone(marker)


def test_a_thread_a_cell_left_running_ends_with_its_process(server):
    reply = run_cell(server, (
        "import os, threading, time\n"
        "threading.Thread(target=time.sleep, args=(300,), name='spinner', daemon=True).start()\n"
        "kept = 'yes'\n"
        "int(os.environ['WENDELIN_CELL_PID'])"), f"leftover-thread-{server.mode}")
    assert reply["status"] == "ok", reply
    worker = int(value(reply))
    assert "left 1 thread(s) running (spinner)" in _notes(reply)
    assert _gone(worker)
    after = run_cell(server, "import os\n(int(os.environ['WENDELIN_CELL_PID']), kept)",
                     f"leftover-thread-{server.mode}")
    pid, kept = value(after).strip("()").split(", ")
    assert int(pid) != worker and kept == "'yes'"
    assert "thread" not in _notes(after)


def test_a_thread_started_below_threading_ends_with_its_process(server):
    reply = run_cell(server, (
        "import _thread, os, time\n"
        "_thread.start_new_thread(time.sleep, (300,))\n"
        "int(os.environ['WENDELIN_CELL_PID'])"), f"leftover-raw-thread-{server.mode}")
    worker = int(value(reply))
    assert "left 1 thread(s) running" in _notes(reply)
    assert _gone(worker)


def test_the_processes_of_a_cell_whose_process_was_killed_end_too(server, tmp_path):
    started, marker = tmp_path / "started", _marker()
    reference = f"leftover-killed-{server.mode}"
    result: dict = {}
    cell = threading.Thread(target=lambda: result.update(reply=run_cell(server, (
        "import ctypes, os, signal, subprocess\n"
        f"subprocess.run(['sh', '-c', 'setsid sleep {marker} &'], check=True)\n"
        "signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})\n"
        f"open({str(started)!r}, 'w').close()\n"
        "ctypes.CDLL(None).sleep(60)\n"), reference)))
    cell.start()
    deadline = time.monotonic() + 60
    while not started.exists():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert _running(marker)
    assert interrupt(server, reference)["interrupted"] is True
    cell.join(timeout=30)
    assert result["reply"]["ename"] == "KeyboardInterrupt"
    assert _all_gone(marker)


@pytest.mark.parametrize("server", ["namespace"], indirect=True)
def test_the_processes_of_a_cell_that_killed_its_zygote_end_too(server):
    # without a pid namespace a daemon outlives a killed zygote (the README says so)
    marker = _marker()
    reference = "leftover-zygote"
    reply = run_cell(server, (
        "import os, signal, subprocess, time\n"
        f"subprocess.run(['sh', '-c', 'setsid sleep {marker} &'], check=True)\n"
        "os.kill(os.getppid(), signal.SIGKILL)\n"
        "time.sleep(30)\n"), reference)
    assert reply["status"] == "error", reply
    assert _all_gone(marker)
    assert value(run_cell(server, "1 + 1", reference)) == "2"  # the pool recovered


@pytest.mark.parametrize("server", ["namespace"], indirect=True)
def test_processes_hidden_by_a_cell_that_covered_its_proc_end_too(server):
    marker, reference = _marker(), "leftover-hidden"
    before = value(run_cell(server, "import os\nos.environ['WENDELIN_CELL_PID']", reference))
    reply = run_cell(server, (
        "import ctypes, subprocess\n"
        "assert ctypes.CDLL(None).mount(b'none', b'/proc', b'tmpfs', 0, None) == 0\n"
        f"subprocess.Popen(['setsid', 'sleep', '{marker}'])\n"
        "hid = True"), reference)
    assert reply["status"] == "ok", reply
    assert _all_gone(marker)
    notes = _notes(reply)
    assert "1 process(es) the cell started were still running" in notes
    assert "changed its process's mounts" in notes  # and it is replaced
    after = run_cell(server, "import os\n(os.environ['WENDELIN_CELL_PID'], hid, "
                             "sorted(os.listdir('/proc'))[:1])", reference)
    pid, hid, listing = (part.strip(" '[]") for part in value(after).strip("()").split(","))
    assert pid != before.strip("'") and hid == "True" and listing.isdigit()


def test_a_signal_handler_a_cell_left_does_not_break_the_next_cells(server):
    reference = f"leftover-handler-{server.mode}"
    reply = run_cell(server, (
        "import os, signal, subprocess\n"
        "def boom(*_):\n"
        "    raise RuntimeError('SIGCHLD handler of an earlier cell')\n"
        "signal.signal(signal.SIGCHLD, boom)\n"
        "signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})\n"
        "signal.setitimer(signal.ITIMER_REAL, 1.5)\n"  # SIGALRM's default ends a process
        "ours = signal.set_wakeup_fd(-1)\n"
        "read, write = os.pipe()\nos.set_blocking(write, False)\n"
        "signal.set_wakeup_fd(write)\n"  # then closed: its number goes to the next file
        "os.close(read); os.close(write)\n"
        "subprocess.Popen(['sleep', '300'])\n"
        "kept = 7\n"
        "os.environ['WENDELIN_CELL_PID']"), reference)
    assert reply["status"] == "ok", reply
    time.sleep(2)  # past the alarm the first cell set
    after = run_cell(server, (
        "import os, signal\n"
        "(kept, signal.getsignal(signal.SIGCHLD) == signal.SIG_DFL, "
        "signal.SIGTERM in signal.pthread_sigmask(signal.SIG_BLOCK, []), "
        "os.environ['WENDELIN_CELL_PID'])"), reference)
    assert value(after) == f"(7, True, False, {value(reply)})"  # the same process
    wakeup = run_cell(server, (
        "import signal\nnow = signal.set_wakeup_fd(-1)\nsignal.set_wakeup_fd(now)\n"
        "now == ours"), reference)
    assert value(wakeup) == "True"  # the interrupts' own, not the cell's closed fd


def test_a_multiprocessing_forkserver_pool_works_in_every_cell(server):
    reference = f"leftover-forkserver-{server.mode}"
    code = (
        "import multiprocessing, operator\n"
        "with multiprocessing.get_context('forkserver').Pool(2) as pool:\n"
        "    squares = pool.map(operator.abs, [-1, -2, -3])\n"
        "squares")
    for _ in range(2):
        assert value(run_cell(server, code, reference)) == "[1, 2, 3]"

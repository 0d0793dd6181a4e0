"""The output of a child process we started: wait for its banner, then keep draining it.

``wendelin cluster`` reads its workers this way; the tests and benchmarks that start
``wendelin run`` or ``wendelin cluster`` read those the same way.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

#: What ``wendelin run`` and ``wendelin cluster`` print, followed by the URL, once they serve.
READY = "Wendelin is ready at "
CLUSTER_READY = "Wendelin cluster is ready at "
#: The last line of their banners.
BANNER_END = "Press Ctrl-C to stop."


def print_banner(ready: str, url: str, settings: Any, password: str,
                 details: Sequence[str] = ()) -> None:
    """The start-up banner of ``wendelin run`` and ``wendelin cluster``: the ready line and
    URL, the credentials (where a generated password is stored), ``details``, the end."""
    stored = "" if settings.admin_password else f"  (stored in {settings.password_file})"
    lines = [f"{ready}{url}", f"  user:     {settings.admin_user}",
             f"  password: {password}{stored}", *details, BANNER_END]
    print("\n".join(lines), flush=True)


class ProcessOutput:
    """The lines a child prints (stderr merged into stdout, text mode), kept in ``lines``."""

    def __init__(self, process: subprocess.Popen, lines: list[str] | None = None,
                 echo: str | None = None) -> None:
        if process.stdout is None:
            raise ValueError("the process must be started with stdout=subprocess.PIPE")
        self.process = process
        self.stdout = process.stdout
        self.lines = [] if lines is None else lines
        self.echo = echo  # when set, drained lines are also printed behind this prefix

    def read_until(self, done: Callable[[str], bool], timeout: float) -> bool:
        """Read lines until ``done(line)`` says so (True); False when the output ends or
        ``timeout`` seconds pass first (checked as lines arrive)."""
        deadline = time.monotonic() + timeout
        for line in self.stdout:
            self.lines.append(line)
            if done(line):
                return True
            if time.monotonic() > deadline:
                return False
        return False

    def drain(self) -> None:
        """Go on reading in a daemon thread, so the child never blocks on a full pipe."""
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self) -> None:
        for line in self.stdout:
            self.lines.append(line)
            if self.echo is not None:
                sys.stdout.write(f"{self.echo}{line}")

    def tail(self, count: int) -> str:
        """The last ``count`` lines, for an error message."""
        return "".join(self.lines[-count:])


#: prctl option making this process the parent of its orphaned descendants (Linux).
PR_SET_CHILD_SUBREAPER = 36


def become_subreaper() -> bool:
    """Adopt the descendants our children leave behind (False where the OS cannot)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def children_of_this_process() -> dict[int, str]:
    """``{pid: state}`` of this process's children, from ``/proc`` (empty elsewhere)."""
    me = os.getpid()
    found: dict[int, str] = {}
    try:
        entries = os.listdir("/proc")
    except OSError:
        return found
    for name in entries:
        if not name.isdigit():
            continue
        try:
            stat = Path("/proc", name, "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[-1].split()
        if len(fields) > 1 and fields[1] == str(me):
            found[int(name)] = fields[0]
    return found


def child_pids(pid: int) -> set[int]:
    """The children of ``pid``, from its threads' ``children`` files: tens of microseconds
    where a ``/proc`` scan costs milliseconds. Empty for a process that is gone."""
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return set()
    found: set[int] = set()
    for task in tasks:
        try:
            with open(f"/proc/{pid}/task/{task}/children") as handle:
                found.update(int(child) for child in handle.read().split())
        except FileNotFoundError:
            if not os.path.exists(f"/proc/{pid}/task/{task}"):
                continue  # a thread that just ended
            # a kernel without those files: scan /proc for this process's own children
            # (a subreaper's grandchildren come up to it once their parent is killed)
            return set(children_of_this_process()) if pid == os.getpid() else set()
        except OSError:
            continue
    return found


def end_descendants(wait: float = 2.0) -> int:
    """SIGKILL every process below this one and reap them; return how many there were.

    Meant for a subreaper (:func:`become_subreaper`): the grandchildren of a child killed
    here are re-parented to this process, so a daemon that double-forked is found too.
    Waits at most ``wait`` seconds for them to go (one in an uninterruptible sleep may
    stay a while: it dies when it wakes).
    """
    ended: set[int] = set()
    deadline = time.monotonic() + wait
    while True:
        below, queue = set(), list(child_pids(os.getpid()))
        while queue:
            pid = queue.pop()
            if pid not in below:
                below.add(pid)
                queue.extend(child_pids(pid))
        for pid in below:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        ended |= below
        while True:  # the children that are gone, and the adopted ones that followed
            try:
                pid, _status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return len(ended)
            if pid == 0:
                break
        if not below or time.monotonic() >= deadline:
            return len(ended)
        time.sleep(0.005)

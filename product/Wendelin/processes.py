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


def is_running(pid: int) -> bool:
    """True unless ``pid`` is gone or a zombie (it ended; only its exit status is left)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    fields = stat.rsplit(")", 1)[-1].split()
    return bool(fields) and fields[0] not in ("Z", "X")


def end_descendants(wait: float = 2.0,
                    spare: frozenset[int] = frozenset()) -> tuple[set[int], bool]:
    """SIGKILL every process below this one (but ``spare`` and theirs) and reap them.

    Meant for a subreaper (:func:`become_subreaper`): the grandchildren of a child killed
    here are re-parented to this process, so a daemon that double-forked is found on the
    next round. Each process is killed as soon as it is found, so a fork storm loses
    ground every round. Returns the pids that were still running (zombies are not) and
    whether none is left once ``wait`` seconds have passed (the walk checks it too).
    """
    ended: set[int] = set()
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        seen, queue = set(), list(child_pids(os.getpid()) - spare)
        while queue and time.monotonic() < deadline:
            pid = queue.pop()
            if pid in seen:
                continue
            seen.add(pid)
            if pid not in ended and is_running(pid):
                ended.add(pid)
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                continue
            queue.extend(child_pids(pid))
        _reap_all_but(spare)
        if not seen:
            return ended, True
        time.sleep(0.002)
    _reap_all_but(spare)
    left = [pid for pid in child_pids(os.getpid()) - spare if is_running(pid)]
    return ended, not left


def _reap_all_but(spare: frozenset[int]) -> None:
    """Collect the exit status of every child that ended, but those in ``spare``."""
    for pid in child_pids(os.getpid()) - spare:
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            continue


#: unshare(2)/setns(2) flags: a new pid namespace for the next child; a new mount namespace.
CLONE_NEWPID = 0x20000000
CLONE_NEWNS = 0x00020000
#: mount(2) flags.
MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REC, MS_SLAVE = 0x2, 0x4, 0x8, 0x4000, 0x80000


def _libc() -> Any:
    return ctypes.CDLL(None, use_errno=True)


class NamespaceForker:
    """Forks children that are each the init of a pid namespace of their own.

    Everything such a child starts stays in its namespace (no double fork, new session or
    ``CLONE_PARENT`` gets out), and when the child dies the kernel kills all of it. Needs
    CAP_SYS_ADMIN: :meth:`create` returns None where the OS refuses.
    """

    def __init__(self, libc: Any, own: int) -> None:
        self._libc = libc
        self._own = own  # this process's pid namespace, to come back to after each fork

    @classmethod
    def create(cls) -> NamespaceForker | None:
        if not sys.platform.startswith("linux"):
            return None
        try:
            libc = _libc()
            own = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            return None
        forker = cls(libc, own)
        try:  # a child that may also mount its own /proc: then the rest will work too
            pid = forker.fork()
        except OSError:
            os.close(own)
            return None
        if pid == 0:
            try:
                enter_own_proc()
            except OSError:
                os._exit(1)
            os._exit(0)
        if os.waitpid(pid, 0)[1] != 0:
            os.close(own)
            return None
        return forker

    def close(self) -> None:
        """Let go of this process's namespace (in a child that forks no cell process)."""
        os.close(self._own)

    def fork(self) -> int:
        """``os.fork()``, the child being pid 1 of a new pid namespace (this thread only);
        OSError, before any fork, where no namespace can be made."""
        if self._libc.unshare(CLONE_NEWPID) != 0:
            raise OSError(ctypes.get_errno(), "no pid namespace of its own for a child")
        try:
            pid = os.fork()
        finally:
            # not an OSError: the child exists, a caller must not fork another in its place
            if os.getpid() != 1 and self._libc.setns(self._own, CLONE_NEWPID) != 0:
                raise RuntimeError(f"cannot come back to this pid namespace (errno "
                                   f"{ctypes.get_errno()})")
        return pid


def enter_own_proc() -> int:
    """In the init of a new pid namespace: mount a ``/proc`` of that namespace (in a mount
    namespace of this process, so nothing changes outside), so that pids, ``ps`` and
    ``/proc/self`` agree inside it. Returns this process's pid outside the namespace."""
    outside = int(os.readlink("/proc/self"))
    libc = _libc()
    if (libc.unshare(CLONE_NEWNS) != 0
            or libc.mount(None, b"/", None, MS_REC | MS_SLAVE, None) != 0
            or libc.mount(b"proc", b"/proc", b"proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, None) != 0):
        raise OSError(ctypes.get_errno(), "no /proc of its own for a pid namespace")
    return outside


def end_namespace(wait: float = 2.0) -> tuple[set[int], bool]:
    """In the init of a pid namespace: SIGKILL every other process of the namespace and
    reap them. One ``kill(-1)`` reaches them all whatever ``/proc`` shows, and the kernel
    lets none fork while it is delivered. Returns the pids (in the namespace) of those it
    ended (reaped as killed by SIGKILL: zombies are not counted) and whether all are gone
    within ``wait`` seconds (they all come to the init, so: whether it has no child)."""
    ended: set[int] = set()
    deadline = time.monotonic() + wait
    while True:
        try:
            os.kill(-1, signal.SIGKILL)
        except ProcessLookupError:
            pass  # nobody else runs here; zombies may be left to reap
        try:
            while True:
                pid, status = os.waitpid(-1, os.WNOHANG)
                if not pid:
                    break
                if os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL:
                    ended.add(pid)
        except ChildProcessError:
            return ended, True
        if time.monotonic() >= deadline:
            return ended, False
        time.sleep(0.002)

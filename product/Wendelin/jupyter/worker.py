"""Cell processes: a zygote with Zope configured forks one process per cell worker.

``python -m Products.Wendelin.jupyter.worker ZOPE_CONF FD`` is started by the server's
:class:`~.pool.CellPool`. It configures Zope once from the server's own ``zope.conf``
(a ZEO client of the same database), closes its database, then forks a worker on each
request received on its control socket (FD), the worker's end of a socket pair coming
with the request (SCM_RIGHTS). A worker opens a database client of its own, lowers its
priority, sets its address-space limit and runs one cell at a time as the user the job
names: one cell = one transaction, retried on write conflicts like a request.

SIGINT interrupts the running cell (KeyboardInterrupt in its output, its changes rolled
back); outside a cell it is ignored. A cell that does not stop within
:data:`INTERRUPT_GRACE` seconds (stuck in C code) makes the process tell the pool and
exit. Frames on both sockets are length-prefixed pickles: both ends are this program.
"""

from __future__ import annotations

import _thread
import json
import logging
import os
import pickle
import random
import resource
import select
import signal
import socket
import struct
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..processes import (
    NamespaceForker,
    become_subreaper,
    end_descendants,
    end_namespace,
    enter_own_proc,
    is_running,
)

logger = logging.getLogger("Wendelin.cells")

#: Seconds a cell may take to stop after SIGINT before its process exits.
INTERRUPT_GRACE = 1.5
_HEADER = struct.Struct("!Q")


# -- framing ----------------------------------------------------------------------------
def send(sock: socket.socket, message: Any) -> None:
    """Send one message (a pickle with its length)."""
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    sock.sendall(_HEADER.pack(len(data)) + data)


def _recv_exactly(sock: socket.socket, size: int) -> bytes | None:
    chunks, missing = [], size
    while missing:
        chunk = sock.recv(min(missing, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        missing -= len(chunk)
    return b"".join(chunks)


def receive(sock: socket.socket) -> Any:
    """The next message, or None when the other end closed."""
    header = _recv_exactly(sock, _HEADER.size)
    if header is None:
        return None
    data = _recv_exactly(sock, _HEADER.unpack(header)[0])
    return None if data is None else pickle.loads(data)


#: Largest record on the zygote's control socket (a SOCK_SEQPACKET pair: one message each).
RECORD_SIZE = 1 << 16


def send_record(sock: socket.socket, message: Any, fds: list[int] | None = None) -> None:
    """One record on the control socket, with file descriptors when given."""
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    if fds:
        socket.send_fds(sock, [data], fds)
    else:
        sock.send(data)


def receive_record(sock: socket.socket) -> tuple[Any, list[int]]:
    """The next record and the descriptors it carried; ``(None, [])`` when closed."""
    data, fds, _flags, _addr = socket.recv_fds(sock, RECORD_SIZE, 4)
    return (pickle.loads(data) if data else None), fds


# -- what a cell needs ------------------------------------------------------------------
@dataclass(frozen=True)
class Limits:
    """Per-process limits a worker applies to itself after the fork."""

    memory: int = 0  # RLIMIT_AS in bytes, 0 for none
    nice: int = 0
    conflict_retries: int = 10
    namespace: bool = True  # a cell's processes in a pid namespace of their own, if allowed


@dataclass
class CellJob:
    """One cell to run: the code, where it runs, as whom, and the request it came with."""

    code: str
    key: str  # the notebook's module name: one notebook, one key
    notebook_path: tuple[str, ...]
    context_path: tuple[str, ...]
    user_id: str
    user_folder_path: tuple[str, ...]
    store_history: bool = True
    environ: dict[str, str] = field(default_factory=dict)
    script: tuple[str, ...] = ()
    virtual_root: tuple[str, ...] | None = None
    #: The last transaction the server process had seen once the request committed (set
    #: by :mod:`.wsgi`): a worker that has seen it too need not ask the database server.
    seen_tid: bytes = b""


def die_with_parent() -> None:
    """Ask Linux to SIGKILL this process when its parent dies (even by SIGKILL), so no
    cell process outlives its server; a no-op where ``prctl`` is not available."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        return


#: prctl(2) option: the signal sent to this process when its parent thread dies.
PR_SET_PDEATHSIG = 1


def _exit_when_orphaned(parent: int, period: float = 0.5) -> None:
    """The zygote ends (taking its workers: they die with it) as soon as the server that
    started it, ``parent``, is gone, even while Zope is still starting. A watch of the
    parent pid, not PR_SET_PDEATHSIG: the server starts the zygote from a short-lived
    thread. The server names its pid: a server killed while this interpreter started has
    already handed it to another parent, which ``os.getppid()`` here would take for it."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(period)
        os._exit(0)

    threading.Thread(target=watch, name="zygote-orphan-watch", daemon=True).start()


# -- the zygote -------------------------------------------------------------------------
def zygote(zope_conf: str, control_fd: int, parent: int | None = None) -> None:
    """Configure Zope without keeping its database open, then fork workers on request."""
    _exit_when_orphaned(os.getppid() if parent is None else parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # interrupts are for cells
    control = socket.socket(fileno=control_fd)
    import Zope2
    from Zope2.Startup.run import make_wsgi_app

    make_wsgi_app({}, zope_conf)  # Zope configured; cells need no WSGI middleware
    _warm_imports()
    Zope2.DB.close()
    become_subreaper()  # the processes of a cell whose worker was killed come here
    forker = NamespaceForker.create()
    send_record(control, ("ready", os.getpid()))
    children: set[int] = set()
    while True:
        readable, _w, _x = select.select([control], [], [], 0.5)
        _end_adopted(children)
        _reap(children, control)
        if not readable:
            continue
        try:
            limits, fds = receive_record(control)
        except OSError:
            limits, fds = None, []
        if limits is None:  # the server is gone: so are we (workers see their sockets close)
            for pid in children:
                _kill(pid, signal.SIGKILL)
            os._exit(0)
        try:
            pid = forker.fork() if forker and limits.namespace else os.fork()
        except OSError:
            pid = os.fork()
        if pid == 0:
            control.close()
            if forker is not None:
                forker.close()  # the zygote's pid namespace: nothing for a cell
            try:
                _worker(fds[0], limits)
            finally:
                os._exit(1)
        os.close(fds[0])
        children.add(pid)
        send_record(control, ("spawned", pid))


def _warm_imports() -> None:
    """Import what cells commonly use, once, so every forked worker has it ready."""
    for name in ("numpy", "matplotlib.pyplot", "pandas", "scipy.signal"):
        try:
            __import__(name)
        except ImportError:
            pass


def _end_adopted(workers: set[int]) -> None:
    """SIGKILL the zygote's children that are not its workers, with all of theirs: the
    processes of a cell whose worker was killed (time limit, memory, interrupt) come here
    where cells have no pid namespace of their own, and so does a worker's CLONE_PARENT."""
    end_descendants(wait=1.0, spare=frozenset(workers))


def _reap(children: set[int], control: socket.socket) -> None:
    """Collect exited workers and tell the pool how each ended (adopted processes too,
    silently)."""
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        if pid not in children:
            continue
        children.discard(pid)
        try:
            send_record(control, ("exited", pid, status))
        except OSError:
            pass


def _kill(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


# -- a worker ---------------------------------------------------------------------------
class _Interrupts:
    """SIGINT raises KeyboardInterrupt in a running cell; a watchdog ends a stuck one.

    Main-thread only for :meth:`begin` and :meth:`end` (they set the signal's handler).
    """

    def __init__(self, channel: socket.socket, lock: threading.Lock) -> None:
        self.channel = channel
        self.lock = lock
        self.running: int | None = None  # the number of the running cell
        self.number = 0
        read, write = os.pipe()
        os.set_blocking(write, False)
        self.wakeup = read
        self.wakeup_fd = write  # signal.set_wakeup_fd's: put back after each cell
        signal.set_wakeup_fd(write)
        self.parent = os.getppid()
        threading.Thread(target=self._watch, name="cell-watchdog", daemon=True).start()

    def begin(self) -> None:
        """A cell starts: SIGINT raises KeyboardInterrupt (Python's own handler, no frame)."""
        self.number += 1
        self.running = self.number
        signal.signal(signal.SIGINT, signal.default_int_handler)

    def end(self) -> None:
        """The cell is over: a late interrupt is ignored (the commit is not interrupted)."""
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        self.running = None

    def _watch(self) -> None:
        """Wake on each signal; exit if a cell ignores an interrupt or the zygote died."""
        while True:
            readable, _w, _x = select.select([self.wakeup], [], [], 1.0)
            if os.getppid() != self.parent:
                os._exit(1)  # the zygote (and so the server) is gone
            if not readable:
                continue
            signals = os.read(self.wakeup, 64)
            cell = self.running
            if signal.SIGINT not in signals or cell is None:
                continue
            deadline = time.monotonic() + INTERRUPT_GRACE
            while self.running == cell and time.monotonic() < deadline:
                time.sleep(0.05)
            if self.running == cell:
                if self.lock.acquire(timeout=1.0):
                    try:
                        send(self.channel, ("stuck", cell))
                    except OSError:
                        pass
                os._exit(3)


def _log_outside_pid(pid: int) -> None:
    """Log lines name this process by the pid the server knows (it is 1 in here)."""

    def outside(record: logging.LogRecord) -> bool:
        record.process = pid
        return True

    for handler in logging.getLogger().handlers:
        handler.addFilter(outside)


def _reopen_database() -> Any:
    """Open this process's own database client from the configuration Zope was given."""
    import App.ZApplication
    import OFS.Application
    import Zope2
    import Zope2.App.startup
    from App.config import getConfiguration

    dbtab = getConfiguration().dbtab
    dbtab.databases.pop(dbtab.getName("/"), None)  # the zygote's, closed
    db = dbtab.getDatabase("/", is_root=1)
    Zope2.DB = db
    wrapper = App.ZApplication.ZApplicationWrapper(db, "Application", OFS.Application.Application)
    Zope2.bobo_application = Zope2.App.startup.app = wrapper
    return db


def _worker(fd: int, limits: Limits) -> None:
    """A worker's life: open the database, then run the cells sent until the socket closes."""
    die_with_parent()
    contained = os.getpid() == 1  # the init of a pid namespace of its own
    outside = enter_own_proc() if contained else os.getpid()
    os.environ["WENDELIN_CELL_PID"] = str(outside)  # the pid the server and the host know
    if contained:
        _log_outside_pid(outside)
    os.set_inheritable(fd, False)  # not for the programs a cell runs
    channel = socket.socket(fileno=fd)
    lock = threading.Lock()
    if limits.nice:
        os.nice(limits.nice)
    db = _reopen_database()
    connection = db.open()  # kept for every cell: its cache stays warm, no open per cell
    if limits.memory:
        resource.setrlimit(resource.RLIMIT_AS, (limits.memory, limits.memory))
    interrupts = _Interrupts(channel, lock)
    if not contained:
        become_subreaper()  # what a cell's processes leave behind comes back here
    leftovers = Leftovers(contained, interrupts.wakeup_fd)
    with lock:
        send(channel, ("ready", os.getpid(), contained))
    while True:
        message = receive(channel)
        if message is None:
            break
        _kind, job = message
        reply, retire = run_job(connection, job, limits, interrupts, channel, lock,
                                leftovers.end_processes)
        retire = leftovers.end(reply) or retire
        body = encode_reply(reply)  # the answer's body: the server passes it on
        with lock:
            send(channel, ("done", body, retire))
        if retire:
            break
    connection.close()
    db.close()
    os._exit(0)


#: Signals whose handlers a cell may change (SIGINT is the interrupt's, set per cell).
_RESTORED_SIGNALS = tuple(sorted(
    set(signal.valid_signals()) - {signal.SIGKILL, signal.SIGSTOP, signal.SIGINT}))


def _signal_state() -> tuple[dict[Any, Any], set[Any]]:
    """The handlers of :data:`_RESTORED_SIGNALS` and the main thread's blocked signals."""
    handlers: dict[Any, Any] = {}
    for number in _RESTORED_SIGNALS:
        try:
            handlers[number] = signal.getsignal(number)
        except (OSError, ValueError):
            continue
    return handlers, signal.pthread_sigmask(signal.SIG_BLOCK, [])


def _mounts() -> str:
    """This process's mount table as its own ``/proc`` shows it ('' if that is gone)."""
    try:
        if os.readlink("/proc/self") != str(os.getpid()):
            return ""
        with open("/proc/self/mountinfo") as table:
            return table.read()
    except OSError:
        return ""


def _forget_multiprocessing_helpers() -> None:
    """multiprocessing's forkserver and resource tracker were ended with the cell's other
    processes: forget them, so the next cell's pool starts new ones (it failed with
    ChildProcessError on the dead ones)."""
    forkserver = sys.modules.get("multiprocessing.forkserver")
    tracker = sys.modules.get("multiprocessing.resource_tracker")
    helpers = [
        (getattr(forkserver, "_forkserver", None), "_forkserver_pid", "_forkserver_alive_fd",
         ("_forkserver_address", "_preload_modules_applied")),
        (getattr(tracker, "_resource_tracker", None), "_pid", "_fd", ()),
    ]
    for helper, pid_name, fd_name, others in helpers:
        pid = getattr(helper, pid_name, None)
        if helper is None or pid is None or is_running(pid):
            continue
        fd = getattr(helper, fd_name, None)
        if fd is not None:
            try:
                os.close(fd)
            except OSError:
                pass
        setattr(helper, fd_name, None)
        setattr(helper, pid_name, None)
        for name in others:
            if hasattr(helper, name):
                setattr(helper, name, None)


class Leftovers:
    """A cell's processes end with it, and its threads with its process.

    Once the cell has run, before its commit (so the time limit covers it) and again once
    it is over: every process it started is SIGKILLed, daemons that double-forked
    included. A cell process that is the init of a pid namespace ends all of it with one
    ``kill(-1)``; without one (no CAP_SYS_ADMIN), it is a subreaper and ends the tree
    below it. Signal handlers and the signal mask the cell changed are put back first
    (a handler of its own ran during the clean-up), and its timers (``signal.alarm``)
    are cancelled. A thread the cell left running, a
    process that would not go, or a changed mount table retires this process. Each is
    said in the cell's reply.
    """

    def __init__(self, contained: bool, wakeup_fd: int) -> None:
        self.contained = contained  # this process is the init of a pid namespace
        self.wakeup_fd = wakeup_fd  # the interrupts' own
        self.threads = set(threading.enumerate())
        self.thread_count = _thread._count()  # noqa: SLF001  (also counts _thread's threads)
        self.signals = _signal_state()
        self.mounts = _mounts() if contained else ""
        self.ended: set[int] = set()
        self.complete = True

    def end_processes(self, wait: float = 2.0) -> None:
        """SIGKILL whatever the cell started that still runs (cheap when nothing does)."""
        handlers, blocked = self.signals
        signal.set_wakeup_fd(self.wakeup_fd)  # a cell's own fd got the signals' numbers written
        for timer in (signal.ITIMER_REAL, signal.ITIMER_VIRTUAL, signal.ITIMER_PROF):
            signal.setitimer(timer, 0)  # an alarm the cell set would go off in a later one
        for number, handler in handlers.items():
            if signal.getsignal(number) is not handler:
                signal.signal(number, handler)
        if signal.pthread_sigmask(signal.SIG_BLOCK, []) != blocked:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        if self.contained:
            ended, complete = end_namespace(wait)
        else:
            ended, complete = end_descendants(wait)
        self.ended |= ended
        self.complete = self.complete and complete
        if ended:
            _forget_multiprocessing_helpers()

    def end(self, reply: dict[str, Any]) -> bool:
        """The cell is over: end its processes, note them and its threads in ``reply``;
        True if this process must be replaced (threads, processes that stayed, mounts)."""
        from .protocol import add_note

        # the second pass, after the commit, is short: a process that did not end in the
        # first retires this one, and the zygote or the kernel finishes the job
        self.end_processes(wait=0.5 if self.complete else 0.0)
        ended, complete = len(self.ended), self.complete
        self.ended, self.complete = set(), True
        if ended:
            add_note(reply, f"{ended} process(es) the cell started were still running: they "
                            "were sent SIGKILL (a cell's processes end with the cell)")
        if not complete:
            add_note(reply, "some process(es) the cell started did not end in time: its "
                            "process is replaced so they go (variables of earlier cells are "
                            "kept)")
        remounted = self.contained and _mounts() != self.mounts
        if remounted:
            add_note(reply, "the cell changed its process's mounts (/proc included): its "
                            "process is replaced (variables of earlier cells are kept)")
        named = sorted(thread.name for thread in threading.enumerate()
                       if thread not in self.threads)
        running = max(len(named), _thread._count() - self.thread_count)  # noqa: SLF001
        if running:
            unnamed = running - len(named)
            names = ", ".join([*named, *([f"{unnamed} started by _thread"] if unnamed else [])])
            add_note(reply, f"the cell left {running} thread(s) running ({names}): its "
                            "process is replaced so they stop (variables of earlier cells are "
                            "kept)")
        retire = bool(running) or not complete or remounted
        if retire:
            logger.info("cell process %s retired: a cell left %s", os.environ["WENDELIN_CELL_PID"],
                        "threads running" if running else "processes that would not end"
                        if not complete else "its mounts changed")
        return retire


def encode_reply(reply: dict[str, Any]) -> bytes:
    """ERP5's JSON reply as the answer's body; an output JSON cannot carry (a display's
    ``application/json`` holding a set...) gives an error reply, not a dead process."""
    try:
        return json.dumps(reply).encode()
    except (TypeError, ValueError) as error:
        from .protocol import empty_reply

        fallback = empty_reply()
        evalue = f"the cell ran (its changes are kept) but its output is not JSON: {error}"
        fallback.update(status="error", ename="OutputEncodingError", evalue=evalue,
                        traceback=[f"OutputEncodingError: {evalue}"])
        return json.dumps(fallback).encode()


def _request(app: Any, job: CellJob) -> Any:
    """A request for the cell like the one it came with (host, port, virtual hosting)."""
    from Testing.makerequest import makerequest

    environ = {"REQUEST_METHOD": "POST", **job.environ}
    wrapped = makerequest(app, environ=environ)
    request = wrapped.REQUEST
    if job.script:
        request._script = list(job.script)
    if job.virtual_root is not None:
        request.other["VirtualRootPhysical"] = job.virtual_root
    return wrapped


def _memory_note(limits: Limits) -> str:
    return (f"the cell process reached its memory limit, WENDELIN_CELL_MEMORY = "
            f"{limits.memory / 1024**3:.2f} GiB of address space; its changes were rolled "
            "back and its process replaced")


def may_still_run(context: Any, notebook: Any) -> None:
    """The request's checks again, now the cell runs: a cell may have waited its turn
    while its user lost the permission to run code, or the View of its notebook."""
    from AccessControl import Unauthorized
    from AccessControl.SecurityManagement import getSecurityManager

    from ..permissions import View
    from .endpoint import require_code_permission

    require_code_permission(context)
    if not getSecurityManager().checkPermission(View, notebook):
        raise Unauthorized(f"you may no longer view the notebook {notebook.getReference()!r}")


def begin_transaction(connection: Any, seen_tid: bytes, sync: bool) -> None:
    """Start the cell's transaction on a view at least as new as the server process's.

    The server process created the notebook and committed a moment ago; its invalidation
    may not have reached this process yet (a new notebook's first cell then failed with
    KeyError). ``transaction.begin()`` syncs with the database server (server-sync, one
    round trip): needed unless this process has already seen ``seen_tid``, the last
    transaction the server process had seen after the request (ZEO moves
    ``lastTransaction`` only once the invalidations are applied, and the abort below
    polls them, so checking first and polling second sees everything up to it).
    """
    import transaction

    storage = connection.db().storage
    if not sync and seen_tid and storage.lastTransaction() >= seen_tid:
        transaction.abort()  # ends the last transaction and polls the invalidations received
    else:
        transaction.begin()  # one round trip (server-sync: every local client has it)


def run_job(
    connection: Any, job: CellJob, limits: Limits, interrupts: _Interrupts,
    channel: socket.socket, lock: threading.Lock, ran: Callable[[], None] = lambda: None,
) -> tuple[dict[str, Any], bool]:
    """Run one cell in a transaction of its own, as the job's user; return (reply, retire).
    ``ran`` is called once the cell's code is over, before anything is committed."""
    import transaction
    from AccessControl.SecurityManagement import newSecurityManager, noSecurityManager
    from transaction.interfaces import TransientError
    from zope.component.hooks import setSite
    from zope.globalrequest import clearRequest, setRequest

    from . import session
    from .protocol import empty_reply, erp5_reply

    for attempt in range(limits.conflict_retries + 1):
        # a retry after a conflict always syncs: the conflicting commit may not be seen yet
        begin_transaction(connection, job.seen_tid, sync=attempt > 0)
        app = None
        try:
            app = _request(connection.root()["Application"], job)
            setRequest(app.REQUEST)
            folder = app.unrestrictedTraverse(job.user_folder_path)
            user = folder.getUserById(job.user_id)
            if user is None:
                raise LookupError(f"user {job.user_id!r} no longer exists")
            newSecurityManager(None, user.__of__(folder))
            notebook = app.unrestrictedTraverse(job.notebook_path)
            setSite(notebook.getPortalObject())
            context = app.unrestrictedTraverse(job.context_path)
            may_still_run(context, notebook)
            interrupts.begin()
            try:
                cell = session.execute(notebook, context, job.code, store_history=job.store_history)
            finally:
                interrupts.end()
            ran()
            if isinstance(cell.error, MemoryError):
                transaction.abort()
                reply = erp5_reply(cell)
                reply["evalue"] = f"{reply['evalue'] or 'out of memory'} ({_memory_note(limits)})"
                reply["traceback"] = [*reply["traceback"], _memory_note(limits)]
                return reply, True
            with lock:
                send(channel, ("committing", interrupts.number))
            transaction.commit()
            return erp5_reply(cell), False
        except TransientError as error:
            transaction.abort()
            if attempt == limits.conflict_retries:
                reply = empty_reply()
                evalue = f"still conflicting after {attempt} retries: {error}"
                reply.update(status="error", ename=type(error).__name__, evalue=evalue,
                             traceback=[f"{type(error).__name__}: {evalue}"])
                return reply, False
            logger.info("cell of %s retried after a conflict: %s", job.key, error)
            time.sleep(random.uniform(0.01, 0.1) * (attempt + 1))
        except BaseException as error:  # noqa: BLE001  (the cell's failure is its reply)
            transaction.abort()
            reply = empty_reply()
            memory = isinstance(error, MemoryError)
            evalue = _memory_note(limits) if memory else str(error)
            reply.update(status="error", ename=type(error).__name__, evalue=evalue,
                         traceback=[f"{type(error).__name__}: {evalue}"])
            return reply, memory
        finally:
            interrupts.end()
            noSecurityManager()
            setSite(None)
            clearRequest()
            if app is not None:
                app.REQUEST.close()
    raise AssertionError("unreachable")


def main(argv: list[str] | None = None) -> None:
    """Log to the server's output, as the server does; then be the zygote."""
    import logging

    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s [cell %(process)d] %(message)s")
    args = sys.argv[1:] if argv is None else argv
    zygote(args[0], int(args[1]), int(args[2]) if len(args) > 2 else None)


if __name__ == "__main__":
    main()

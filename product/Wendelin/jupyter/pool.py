"""The server's pool of cell processes: which process runs which notebook's cell, and limits.

One zygote process (:mod:`.worker`) has Zope configured; it forks workers, each a
database client of its own. A cell goes to an idle worker, preferably the one that ran
its notebook last; one notebook's cells run one at a time (later ones wait their turn),
different notebooks' in parallel, up to ``WENDELIN_CELL_WORKERS`` processes, with
``WENDELIN_CELL_SPARE`` idle ones started ahead. One user holds at most
``WENDELIN_CELL_USER_SHARE`` processes (by default all but one), so others' cells always
find one; a cell waits its turn at most ``WENDELIN_CELL_WAIT`` seconds, waiting cells
served oldest first. The thread waiting for a cell holds no database connection (see
:mod:`.wsgi`). The pool enforces ``WENDELIN_CELL_TIMEOUT``
(the process is killed, the cell's transaction dies with it, a new process takes its
place); the worker enforces its own memory limit and interrupts. Which process runs
which notebook is also written to a directory shared by every server process using the
same database, so an interrupt reaches the cell whichever server process receives it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import queue
import select
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..settings import cell_wait, user_share
from .worker import (
    INTERRUPT_GRACE,
    CellJob,
    Limits,
    receive,
    receive_record,
    send,
    send_record,
)

logger = logging.getLogger("Wendelin.cells")

#: How long the zygote may take to configure Zope, and a new worker to open its database.
ZYGOTE_START_TIMEOUT = 180.0
WORKER_START_TIMEOUT = 120.0
#: How long a cell may take to commit once it said so, past its time limit.
COMMIT_GRACE = 60.0
WORKER_MODULE = "Products.Wendelin.jupyter.worker"

_current: list[CellPool] = []


def current() -> CellPool | None:
    """The pool of this server process, if cells run in processes."""
    return _current[0] if _current else None


class PoolError(RuntimeError):
    """No process could be started for the cell."""


class CellWaitError(RuntimeError):
    """The cell could not get a cell process in time (or too many of its user's wait)."""


#: Longest wait of a cell for a process, in seconds, unless WENDELIN_CELL_WAIT says.


@dataclass(eq=False)
class Ticket:
    """A cell waiting for a process: its notebook and its user, in order of arrival."""

    key: str
    user: tuple[Any, ...]
    interrupted: bool = False


#: Bytes of a worker's note: the key of the notebook it runs, padded with spaces.
NOTE_SIZE = 256
NOTE_PREFIX = "cell-"


@dataclass(eq=False)
class WorkerProcess:
    """One forked cell process and the pool's end of its socket."""

    pid: int
    sock: socket.socket
    state: str = "starting"  # starting, idle, busy, dead
    phase: str = ""  # while busy: running or committing
    interrupted_at: float | None = None
    note_path: Path | None = None
    note_fd: int = -1

    def open_note(self, registry: Path) -> None:
        """Create ``cell-<pid>`` in the registry: which notebook this process runs, if any."""
        self.note_path = registry / f"{NOTE_PREFIX}{self.pid}"
        self.note_fd = os.open(self.note_path,
                               os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        self.note("")

    def note(self, key: str) -> None:
        """Write the notebook key now running (empty: none), in place: one pwrite per cell,
        no file created or removed (that cost a tenth of a millisecond per cell)."""
        if self.note_fd >= 0:
            os.pwrite(self.note_fd, key.encode().ljust(NOTE_SIZE), 0)

    def kill(self) -> None:
        """SIGKILL: its transaction is aborted by the database server when it disconnects."""
        self.state = "dead"
        try:
            os.kill(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.sock.close()
        if self.note_fd >= 0:
            os.close(self.note_fd)
            self.note_fd = -1
        if self.note_path is not None:
            self.note_path.unlink(missing_ok=True)


def runtime_dir(address: str) -> Path:
    """Where the server processes of one database note which process runs which notebook."""
    digest = hashlib.sha1(address.encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"wendelin-cells-{os.getuid()}-{digest}"


def private_dir(path: Path) -> Path:
    """``path`` as a folder only this user can use: made with mode 0700, or refused
    (PoolError) if it is a symlink, another user's, or open to others. The registry is
    under the shared temp directory at a predictable name; another local user could
    otherwise prepare it, plant notes and have interrupts sent where they choose."""
    try:
        path.mkdir(mode=0o700, parents=False)
    except FileExistsError:
        pass
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.mkdir(mode=0o700)
    info = os.lstat(path)
    if (not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid()
            or stat.S_IMODE(info.st_mode) & 0o077):
        raise PoolError(f"the cell registry {path} is not a private folder of this user "
                        f"(mode {stat.S_IMODE(info.st_mode):o}, owner {info.st_uid}): remove it")
    return path


def _is_cell_process(pid: int) -> bool:
    try:
        return WORKER_MODULE.encode() in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def remove_stale_notes(registry: Path) -> None:
    """Remove the notes of cell processes that are gone (a server killed with its workers)."""
    for path in registry.glob(f"{NOTE_PREFIX}*"):
        pid = path.name[len(NOTE_PREFIX):]
        if not pid.isdigit() or not _is_cell_process(int(pid)):
            path.unlink(missing_ok=True)


def registered_pid(registry: Path, key: str) -> int | None:
    """The pid of the cell process running the notebook ``key``, whichever server process
    of this machine started it (its ``cell-<pid>`` note names the key), or None."""
    wanted = key.encode()
    for path in registry.glob(f"{NOTE_PREFIX}*"):
        try:
            with open(os.open(path, os.O_RDONLY | os.O_NOFOLLOW), "rb") as note:
                if note.read(NOTE_SIZE).rstrip() != wanted:
                    continue
            pid = int(path.name[len(NOTE_PREFIX):])
        except (OSError, ValueError):
            continue
        if _is_cell_process(pid):
            return pid
    return None


def _error_reply(ename: str, evalue: str) -> bytes:
    """ERP5's JSON reply for a cell the pool could not run to its end."""
    from .protocol import empty_reply

    reply = empty_reply()
    reply.update(status="error", ename=ename, evalue=evalue, traceback=[f"{ename}: {evalue}"])
    return json.dumps(reply).encode()


KEPT = "variables of earlier cells are kept"


class CellPool:
    """Cell processes of one server process (see the module's docstring)."""

    def __init__(self, zope_conf: Path, settings: Any, address: str) -> None:
        self.zope_conf = zope_conf
        self.max_workers = settings.cell_workers
        self.spare = settings.cell_spare
        self.timeout = settings.cell_timeout
        self.limits = Limits(memory=settings.cell_memory, nice=settings.cell_nice,
                             conflict_retries=settings.conflict_retries,
                             namespace=settings.cell_namespace)
        self.share = user_share(self.max_workers)
        self._contained_said = False
        self.wait = cell_wait()
        self.registry = private_dir(runtime_dir(address))
        self.cond = threading.Condition()
        self.workers: set[WorkerProcess] = set()
        self.idle: list[WorkerProcess] = []
        self.starting = 0
        self.busy_keys: set[str] = set()
        #: Cells holding a process, per user (entries removed at zero: bounded by workers).
        self.user_cells: dict[tuple[Any, ...], int] = {}
        #: Cells waiting for a process, oldest first (at most ``share`` per user).
        self.waiters: list[Ticket] = []
        self.running: dict[str, WorkerProcess] = {}
        self.affinity: dict[str, WorkerProcess] = {}
        self.exits: dict[int, int] = {}
        self.stopping = False
        self._spawn_lock = threading.Lock()
        self._spawned: queue.Queue[int | None] = queue.Queue()
        self.zygote: subprocess.Popen | None = None
        self.control: socket.socket | None = None

    # -- wiring -----------------------------------------------------------------------
    def wrap(self, app: Any) -> Any:
        """The WSGI application whose notebook cells run in this pool."""
        from .wsgi import CellMiddleware

        return CellMiddleware(app, self)

    def dispatcher(self, page_threads: int) -> Any:
        """A waitress dispatcher: pages on ``page_threads`` threads, cells on their own.

        A user's cells hold at most ``2 * share`` cell threads (``share`` running, as many
        waiting), so with ``2 * workers + 2`` threads another user's cell always finds one.
        """
        from .wsgi import RoutingDispatcher

        return RoutingDispatcher(page_threads, 2 * self.max_workers + 2)

    def start(self) -> None:
        """Start the zygote and the spare workers in the background."""
        _current[:] = [self]
        remove_stale_notes(self.registry)
        threading.Thread(target=self._replenish, name="cell-pool-start", daemon=True).start()

    def stop(self) -> None:
        """Stop the zygote and every worker (the zygote kills them when its socket closes)."""
        with self.cond:
            self.stopping = True
            workers = list(self.workers)
            self.cond.notify_all()
        if self.control is not None:
            self.control.close()
        elif self.zygote is not None and self.zygote.poll() is None:
            # still starting Zope, deaf to its socket until ready: it holds nothing to
            # save, so it is not waited for (a stop right after the banner took 12 s)
            self.zygote.kill()
        for worker in workers:
            worker.kill()
        if self.zygote is not None:
            try:
                self.zygote.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.zygote.kill()
                self.zygote.wait()
        if _current and _current[0] is self:
            _current.clear()

    # -- processes --------------------------------------------------------------------
    def _ensure_zygote(self) -> socket.socket:
        """The zygote's control socket, starting the zygote if it is not running."""
        if self.zygote is not None and self.zygote.poll() is None and self.control is not None:
            return self.control
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.zygote = subprocess.Popen(
            [sys.executable, "-m", WORKER_MODULE, str(self.zope_conf), str(theirs.fileno()),
             str(os.getpid())],
            pass_fds=[theirs.fileno()],
            start_new_session=True,  # Ctrl-C on the server's terminal is not for cells
        )
        theirs.close()
        ours.settimeout(ZYGOTE_START_TIMEOUT)
        try:
            message, _fds = receive_record(ours)
        except (OSError, EOFError) as error:
            message = None
            logger.error("cell zygote did not start: %s", error)
        if not message or message[0] != "ready":
            self.zygote.kill()
            raise PoolError("the cell processes could not start (see the server's log)")
        ours.settimeout(None)
        self.control = ours
        self._spawned = queue.Queue()
        threading.Thread(target=self._read_control, args=(ours, self._spawned),
                         name="cell-zygote", daemon=True).start()
        logger.info("cell zygote started: pid %s", self.zygote.pid)
        return ours

    def _read_control(self, control: socket.socket, spawned: queue.Queue) -> None:
        """Messages of the zygote: pids of new workers, exit statuses of old ones."""
        while True:
            try:
                message, _fds = receive_record(control)
            except OSError:
                message = None
            if message is None:
                spawned.put(None)
                return
            if message[0] == "spawned":
                spawned.put(message[1])
            elif message[0] == "exited":
                with self.cond:
                    self.exits[message[1]] = message[2]
                    self.cond.notify_all()

    def _spawn(self) -> WorkerProcess:
        """Fork a worker and wait until its database is open."""
        with self._spawn_lock:
            if self.stopping:
                raise PoolError("the server is stopping")
            control = self._ensure_zygote()
            ours, theirs = socket.socketpair()
            try:
                send_record(control, self.limits, [theirs.fileno()])
            finally:
                theirs.close()
            try:
                pid = self._spawned.get(timeout=30)
            except queue.Empty:
                pid = None
            if pid is None:
                ours.close()
                raise PoolError("the cell zygote did not fork a process")
        worker = WorkerProcess(pid, ours)
        try:
            worker.open_note(self.registry)
        except OSError as error:
            worker.kill()
            raise PoolError(f"the cell process {pid} could not be registered: {error}") from None
        ours.settimeout(WORKER_START_TIMEOUT)
        try:
            message = receive(ours)
        except OSError:
            message = None
        if not message or message[0] != "ready":
            worker.kill()
            raise PoolError(f"the cell process {pid} did not start ({self._how_ended(pid)})")
        ours.settimeout(None)
        if not self._contained_said:
            self._contained_said = True
            logger.info("the processes a cell starts end with it: %s", (
                "a pid namespace per cell process" if message[2] else
                "cell processes end the tree below them (no pid namespace: "
                "WENDELIN_CELL_NAMESPACE=0 or no CAP_SYS_ADMIN)"))
        return worker

    def _replenish(self) -> None:
        """Start workers until WENDELIN_CELL_SPARE are idle or starting (within the maximum)."""
        while True:
            with self.cond:
                if not self._needs_spare():
                    return
                self.starting += 1
            try:
                worker = self._spawn()
            except PoolError as error:
                logger.error("could not start a spare cell process: %s", error)
                with self.cond:
                    self.starting -= 1
                return
            with self.cond:
                self.starting -= 1
                worker.state = "idle"
                self.workers.add(worker)
                self.idle.append(worker)
                self.cond.notify_all()

    def _needs_spare(self) -> bool:
        """Whether fewer than WENDELIN_CELL_SPARE are idle or starting (within the maximum)."""
        with self.cond:
            return not (self.stopping or len(self.idle) + self.starting >= self.spare
                        or len(self.workers) + self.starting >= self.max_workers)

    def _replenish_later(self) -> None:
        """Start spare workers in the background if some are missing (no thread otherwise)."""
        if self._needs_spare():
            threading.Thread(target=self._replenish, name="cell-pool-spare", daemon=True).start()

    def _how_ended(self, pid: int, wait: float = 1.0) -> str:
        """How a worker ended, as the zygote reported it (``signal 9 (SIGKILL)``)."""
        deadline = time.monotonic() + wait
        with self.cond:
            while pid not in self.exits and time.monotonic() < deadline:
                self.cond.wait(deadline - time.monotonic())
            status = self.exits.pop(pid, None)
        if status is None:
            return "unknown exit"
        if os.WIFSIGNALED(status):
            number = os.WTERMSIG(status)
            try:
                return f"signal {number} ({signal.Signals(number).name})"
            except ValueError:
                return f"signal {number}"
        return f"exit code {os.WEXITSTATUS(status)}"

    # -- cells ------------------------------------------------------------------------
    def _free(self) -> int:
        """Processes a cell could take now: idle ones, and room to start new ones."""
        return len(self.idle) + max(0, self.max_workers - len(self.workers) - self.starting)

    def _turn(self, ticket: Ticket) -> bool:
        """Whether ``ticket`` may take a process now (under ``cond``): the waiters that could
        run are served oldest first, so a cell never waits behind later ones of others."""
        free = self._free()
        keys = set(self.busy_keys)
        held = dict(self.user_cells)
        for other in self.waiters:
            if free <= 0:
                return False
            if other.key in keys or held.get(other.user, 0) >= self.share:
                if other is ticket:
                    return False
                continue  # it cannot run yet: it does not hold back later ones
            if other is ticket:
                return True
            keys.add(other.key)
            held[other.user] = held.get(other.user, 0) + 1
            free -= 1
        return False

    def _why_waiting(self, ticket: Ticket) -> str:
        """What keeps the cell waiting, naming the setting that bounds it."""
        if ticket.key in self.busy_keys:
            return "the notebook's previous cell is still running"
        held = self.user_cells.get(ticket.user, 0)
        if held >= self.share:
            return (f"{held} cells of this user are running, its share of the cell processes "
                    f"(WENDELIN_CELL_USER_SHARE = {self.share}): it waits for one of them to end")
        return f"all cell processes are busy (WENDELIN_CELL_WORKERS = {self.max_workers})"

    def _take(self, ticket: Ticket) -> WorkerProcess | None:
        """Wait (at most WENDELIN_CELL_WAIT) for the ticket's turn; then hold its notebook,
        one process of its user's share and an idle worker (None: one to start, counted in
        ``starting``). CellWaitError when the turn did not come in time."""
        deadline = time.monotonic() + self.wait
        with self.cond:
            waiting = sum(1 for other in self.waiters if other.user == ticket.user)
            if waiting >= self.share:
                raise CellWaitError(
                    f"{waiting} cells of this user already wait for a cell process, as many "
                    f"as its share of them (WENDELIN_CELL_USER_SHARE = {self.share}): the "
                    f"cell was not run and nothing of it was kept ({KEPT})")
            self.waiters.append(ticket)
            logged = False
            try:
                while True:
                    if ticket.interrupted:
                        raise CellWaitError(
                            f"interrupted while waiting for a cell process: the cell was not "
                            f"run and nothing of it was kept ({KEPT})")
                    if self._turn(ticket):
                        break
                    if self.stopping:
                        raise PoolError("the server is stopping")
                    if not logged:
                        logger.info("a cell of user %r waits: %s", ticket.user[-1],
                                    self._why_waiting(ticket))
                        logged = True
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        raise CellWaitError(
                            f"the cell waited {self.wait:g} s for a cell process, its longest "
                            f"wait (WENDELIN_CELL_WAIT = {self.wait:g} s): "
                            f"{self._why_waiting(ticket)}; the cell was not run and nothing "
                            f"of it was kept ({KEPT})")
                    self.cond.wait(remaining)
            finally:
                self.waiters.remove(ticket)
                self.cond.notify_all()  # a later waiter's turn may have come
            if self.stopping:
                raise PoolError("the server is stopping")
            self.busy_keys.add(ticket.key)
            self.user_cells[ticket.user] = self.user_cells.get(ticket.user, 0) + 1
            # the process is claimed now, under the same lock as the turn was given
            self._drop_dead_idle()
            preferred = self.affinity.get(ticket.key)
            if preferred is not None and preferred in self.idle:
                worker: WorkerProcess | None = preferred
            elif self.idle:
                worker = self.idle[0]  # the longest idle
            else:
                self.starting += 1  # room for one more: _acquire starts it
                return None
            assert worker is not None
            self.idle.remove(worker)
            worker.state = "busy"
            return worker

    def _drop_dead_idle(self) -> None:
        """Forget idle workers that died while idle (killed, their zygote gone): a cell
        given one would fail unrun. A dead worker's socket reads as ended, an idle live
        one's has nothing to read (one ``select`` for all, no wait)."""
        if not self.idle:
            return
        ended, _w, _x = select.select([w.sock for w in self.idle], [], [], 0)
        for worker in [w for w in self.idle if w.sock in ended or w.pid in self.exits]:
            self.idle.remove(worker)
            self.workers.discard(worker)
            self._forget_affinity(worker)
            worker.kill()
            logger.info("cell process %s ended while idle; not used", worker.pid)

    def _forget_affinity(self, worker: WorkerProcess) -> None:
        """Drop ``worker`` from the notebooks' preferred processes (under ``cond``): one
        entry per worker, its last notebook, so the map is bounded by the workers."""
        self.affinity = {k: w for k, w in self.affinity.items() if w is not worker}

    def _give_back(self, ticket: Ticket) -> None:
        """The cell is over (under ``cond``): its notebook and its user's process are free."""
        self.busy_keys.discard(ticket.key)
        held = self.user_cells.get(ticket.user, 0) - 1
        if held > 0:
            self.user_cells[ticket.user] = held
        else:
            self.user_cells.pop(ticket.user, None)

    def _acquire(self, claimed: WorkerProcess | None) -> WorkerProcess:
        """The worker :meth:`_take` claimed, or a new one started in the room it kept."""
        if claimed is None:
            try:
                worker = self._spawn()
            finally:
                with self.cond:
                    self.starting -= 1
            with self.cond:
                worker.state = "busy"
                self.workers.add(worker)
        else:
            worker = claimed
        self._replenish_later()
        return worker

    def run(self, job: CellJob) -> bytes:
        """Run the cell in a worker; return ERP5's JSON reply (limits and crashes are errors).

        The cell first waits its turn: its notebook free (one cell at a time), a process
        free and its user under WENDELIN_CELL_USER_SHARE, at most WENDELIN_CELL_WAIT.
        The worker encodes the reply itself: the server process only passes its bytes on.
        """
        ticket = Ticket(job.key, (job.user_folder_path, job.user_id))
        try:
            claimed = self._take(ticket)
        except CellWaitError as error:
            return _error_reply("KeyboardInterrupt" if ticket.interrupted else "CellWaitError",
                                str(error))
        except PoolError as error:
            return _error_reply("CellProcessError", str(error))
        worker = None
        try:
            worker = self._acquire(claimed)
            return self._execute(worker, job)
        except PoolError as error:
            return _error_reply("CellProcessError", str(error))
        finally:
            if worker is not None and worker.state != "dead":
                worker.note("")  # still ours: no other cell has it yet
            with self.cond:
                self._give_back(ticket)
                self.running.pop(job.key, None)
                if worker is not None:
                    self._forget_affinity(worker)
                    if worker.state == "dead":
                        self.workers.discard(worker)
                    else:
                        worker.state = "idle"
                        self.idle.append(worker)
                        self.affinity[job.key] = worker
                self.cond.notify_all()
            if worker is not None and worker.state == "dead":
                self._replenish_later()

    def _execute(self, worker: WorkerProcess, job: CellJob) -> bytes:
        """Send the job, wait for its reply; enforce the time limit and interrupts' grace."""
        started = time.monotonic()
        deadline = started + self.timeout if self.timeout else None
        with self.cond:
            worker.phase, worker.interrupted_at = "running", None
            self.running[job.key] = worker
        worker.note(job.key)
        try:
            send(worker.sock, ("run", job))
        except OSError:
            return self._ended(worker)
        while True:
            readable, _w, _x = select.select([worker.sock], [], [], 0.1)
            if readable:
                try:
                    message = receive(worker.sock)
                except OSError:
                    message = None
                if message is None:
                    return self._ended(worker)
                if message[0] == "committing":
                    worker.phase = "committing"
                elif message[0] == "done":
                    _kind, reply, retire = message
                    if retire:
                        worker.kill()
                    return reply
                elif message[0] == "stuck":
                    worker.kill()
                    return _error_reply("KeyboardInterrupt", self._stuck_text())
                continue
            now = time.monotonic()
            if worker.phase == "committing":
                if deadline is None or now < deadline + COMMIT_GRACE:
                    continue
            if deadline is not None and now >= deadline:
                worker.kill()
                return _error_reply("CellTimeoutError", (
                    f"the cell ran longer than its time limit, WENDELIN_CELL_TIMEOUT = "
                    f"{self.timeout:g} s: it was stopped, its changes rolled back and its "
                    f"process replaced ({KEPT})"))
            if (worker.interrupted_at is not None
                    and now - worker.interrupted_at > INTERRUPT_GRACE + 1.0):
                worker.kill()
                return _error_reply("KeyboardInterrupt", self._stuck_text())

    def _stuck_text(self) -> str:
        return (f"the cell did not stop within {INTERRUPT_GRACE:g} s of the interrupt (busy in "
                f"C code?): its process was stopped and replaced, its changes rolled back "
                f"({KEPT})")

    def _ended(self, worker: WorkerProcess) -> bytes:
        """The reply for a worker that died in the middle of a cell."""
        interrupted = worker.interrupted_at is not None
        worker.kill()
        how = self._how_ended(worker.pid)
        if interrupted:
            return _error_reply("KeyboardInterrupt", self._stuck_text())
        memory = ""
        if self.limits.memory and any(s in how for s in ("SIGSEGV", "SIGABRT", "SIGBUS")):
            memory = (f"; it may have reached its memory limit, WENDELIN_CELL_MEMORY = "
                      f"{self.limits.memory / 1024**3:.2f} GiB")
        if worker.phase == "committing":  # the database may have committed already
            return _error_reply("CellProcessDied", (
                f"the cell's process ended while committing the cell ({how}{memory}): its "
                f"changes may or may not be stored, look before running it again; a new "
                f"process takes its place ({KEPT})"))
        return _error_reply("CellProcessDied", (
            f"the cell's process ended before the cell finished ({how}{memory}): its changes "
            f"were rolled back and a new process takes its place ({KEPT})"))

    def interrupt(self, key: str) -> bool:
        """SIGINT to the process running the notebook's cell, here or in another server process;
        with none running here, the notebook's cells waiting for a process end unrun."""
        with self.cond:
            worker = self.running.get(key)
            if worker is not None and worker.phase == "running":
                worker.interrupted_at = time.monotonic()
                pid = worker.pid
            else:
                pid = None
            if worker is None:
                waiting = [t for t in self.waiters if t.key == key and not t.interrupted]
                for ticket in waiting:
                    ticket.interrupted = True
                if waiting:
                    self.cond.notify_all()
                    return True
        if pid is None:
            pid = registered_pid(self.registry, key)
        if pid is None:
            return False
        try:
            os.kill(pid, signal.SIGINT)
        except ProcessLookupError:
            return False
        return True


def start_cell_pool(settings: Any, zope_conf: Path) -> CellPool | None:
    """The started pool for this server, or None when cells run in request threads."""
    if not settings.cell_workers:
        return None
    address = settings.zeo or str(settings.zeo_socket)
    pool = CellPool(zope_conf, settings, address)
    pool.start()
    return pool

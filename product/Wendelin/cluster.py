"""``wendelin cluster``: a ZEO server, N Zope workers and one front door, on this machine.

What ``make cluster`` calls. The ZEO server (``runzeo``) owns Data.fs and the blobs in the
instance's ``var/``; each worker is ``wendelin run`` as a ZEO client with its own blob
cache (``var/workers/<n>/``) on a free port, told its number (``WENDELIN_WORKER=<n>``:
``WENDELIN_ACTIVITY_WORKERS`` selects activity workers by it); haproxy balances
``WENDELIN_PORT`` over them (installed from Debian when missing). With
``WENDELIN_ZEO=host:port`` the workers use that ZEO server instead and none is started,
which is how workers on other machines join.
Workers are supervised: one that exits is started again on its port, after a delay that
doubles with each quick death (1 s up to 60 s); every restart is logged and counted in
``var/cluster-status.json``. The cluster is its descendants' child subreaper (Linux): what
a killed worker leaves running (its cell processes) is reparented to it and ended, by PID.
Ctrl-C or SIGTERM stops everything this command started, by PID.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from string import Template
from typing import TYPE_CHECKING, Any, cast

from .errors import ConfigurationError
from .processes import (
    CLUSTER_READY,
    READY,
    ProcessOutput,
    become_subreaper,
    children_of_this_process,
    print_banner,
)
from .settings import Settings, shipped_path

if TYPE_CHECKING:
    from erp5_kernel.launcher import JupyterProcess

TEMPLATES = shipped_path("instance")
BIN = Path(sys.executable).parent
#: Restart delays: the first after FIRST_DELAY s, doubled per quick death, at most MAX_DELAY.
FIRST_DELAY = 1.0
MAX_DELAY = 60.0
#: The longest wait before the ZEO server is started again: the whole site waits for it.
ZEO_MAX_DELAY = 4.0
#: A worker that served this long before dying is restarted after FIRST_DELAY again.
STABLE_AFTER = 60.0
#: How long a (re)started worker may take to print its banner.
START_TIMEOUT = 180.0
#: What the cluster prints when it restarts a worker (tests and operators look for it).
RESTARTED = "worker {number} restarted: pid {pid} at {url} (restart {restarts})"

logger = logging.getLogger("Wendelin.cluster")


#: How long an orphan may take to exit after SIGTERM before it gets SIGKILL.
ORPHAN_GRACE = 10.0


def _log(message: str) -> None:
    """One line on the cluster's output (its only log) and to the logging system."""
    print(f"[cluster] {message}", flush=True)
    logger.info(message)


def free_port(host: str = "127.0.0.1") -> int:
    """A port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def accepts(host: str, port: int) -> bool:
    """Whether something accepts connections on ``host:port`` now (half a second at most)."""
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex((host, port)) == 0


def wait_for_port(host: str, port: int, timeout: float, process: subprocess.Popen) -> None:
    """Wait until something accepts connections on ``host:port`` (or the process died)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            command = cast(list[str], process.args)  # started with a list of words
            raise RuntimeError(f"{command[0]} exited with {process.returncode}")
        if accepts(host, port):
            return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {host}:{port} after {timeout} s")


def ensure_haproxy() -> str:
    """The haproxy executable, installed from Debian's packages when missing."""
    found = shutil.which("haproxy") or shutil.which("haproxy", path="/usr/sbin:/sbin")
    if found:
        return found
    if shutil.which("apt-get") and os.geteuid() == 0:
        print("Installing haproxy (Debian package) for the front door...", flush=True)
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], check=False, env=env)
        subprocess.run(["apt-get", "install", "-y", "-qq", "haproxy"], check=True, env=env)
        found = shutil.which("haproxy") or shutil.which("haproxy", path="/usr/sbin:/sbin")
        if found:
            return found
    raise ConfigurationError("haproxy is needed for the front door: apt-get install haproxy")


@dataclass
class Backoff:
    """When a supervised process that exited is started again: FIRST_DELAY s after its
    death, the delay doubled for each quick death (up to MAX_DELAY), reset by a process
    that served STABLE_AFTER s."""

    restarts: int = 0
    delay: float = FIRST_DELAY  # before the next restart
    started_at: float = 0.0
    died_at: float | None = None  # while it is down
    max_delay: float = MAX_DELAY

    def started(self) -> None:
        self.started_at = time.monotonic()
        self.died_at = None

    def died(self, now: float) -> bool:
        """Note a death seen at ``now``; True the first time it is seen (to be logged)."""
        if self.died_at is not None:
            return False
        self.died_at = now
        if now - self.started_at >= STABLE_AFTER:
            self.delay = FIRST_DELAY  # it had served a while: not a crash loop
        return True

    def wait_left(self, now: float) -> float:
        """Seconds from ``now`` until the restart is due."""
        return max(0.0, self.delay - (now - self.died_at)) if self.died_at is not None else 0.0

    def due(self, now: float) -> bool:
        """True (and counted as a restart) once the delay since the death has passed."""
        if self.died_at is None or now - self.died_at < self.delay:
            return False
        self.delay = min(self.delay * 2, self.max_delay)
        self.restarts += 1
        self.died_at = now  # until it runs again: a death before that waits the new delay
        return True


@dataclass
class Worker:
    """One ``wendelin run`` process as a ZEO client; started again on its port if it exits."""

    number: int
    port: int
    env: dict[str, str]
    process: subprocess.Popen = field(init=False)
    output: ProcessOutput = field(init=False)
    url: str = ""
    backoff: Backoff = field(default_factory=Backoff)
    ready: bool = False

    def spawn(self) -> None:
        """Start the process (stdout and stderr read through :class:`ProcessOutput`)."""
        self.process = subprocess.Popen(
            [str(BIN / "wendelin"), "run"],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.output = ProcessOutput(self.process, echo=f"[worker {self.number}] ")
        self.backoff.started()
        self.ready = False

    def read_until_ready(self, timeout: float) -> None:
        if not self.output.read_until(lambda line: line.startswith(READY), timeout):
            raise RuntimeError(f"worker {self.number} did not start:\n" + self.output.tail(30))
        self.url = self.output.lines[-1].split(" at ", 1)[1].strip()
        self.ready = True
        self.output.drain()

    def status(self) -> dict[str, Any]:
        """What ``cluster-status.json`` says about this worker."""
        state = "serving" if self.ready else "starting"
        if self.process.poll() is not None:
            state = "restarting"
        return {"number": self.number, "pid": self.process.pid, "port": self.port,
                "url": self.url, "state": state, "restarts": self.backoff.restarts}


class Cluster:
    """Start and stop the processes of a local cluster."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.zeo: subprocess.Popen | None = None
        self.haproxy: subprocess.Popen | None = None
        self.workers: list[Worker] = []
        self.zeo_address = settings.zeo or ""
        self.zeo_conf = settings.etc / "zeo.conf"
        self.zeo_backoff = Backoff(max_delay=ZEO_MAX_DELAY)
        self.zeo_listening = False
        self.zeo_dead_pid = 0
        self.front_port = settings.port or free_port(settings.host)
        self.jupyter: JupyterProcess | None = None
        self.url = ""
        self.stopping = threading.Event()
        self._status_lock = threading.Lock()
        self.orphans: dict[int, float] = {}  # adopted descendant -> when it got SIGTERM
        self.subreaper = become_subreaper()

    # -- parts ----------------------------------------------------------------------------
    def start_zeo(self) -> None:
        """Start the ZEO server over the instance's Data.fs and blobs (unless WENDELIN_ZEO)."""
        if self.settings.zeo:
            return
        settings = self.settings
        for sub in ("", "blobs", "log"):
            (settings.var / sub).mkdir(parents=True, exist_ok=True)
        settings.etc.mkdir(parents=True, exist_ok=True)
        port = free_port()
        self.zeo_address = f"127.0.0.1:{port}"
        conf = Template((TEMPLATES / "zeo.conf.in").read_text()).substitute(
            address=self.zeo_address, var=str(settings.var)
        )
        self.zeo_conf.write_text(conf)
        self._spawn_zeo()
        assert self.zeo is not None
        wait_for_port("127.0.0.1", port, 60, self.zeo)
        self.zeo_listening = True
        self.zeo_backoff.started()

    def _spawn_zeo(self) -> None:
        """runzeo, with invalidations sent before the committer's answer (zeoserver.py)."""
        self.zeo = subprocess.Popen(
            [sys.executable, "-m", "Products.Wendelin.zeoserver", "-C", str(self.zeo_conf)])
        self.zeo_listening = False  # said once it accepts connections

    def supervise_zeo(self, now: float) -> None:
        """Start the ZEO server again, on its address, if it exited: the workers' clients
        reconnect by themselves (requests wait meanwhile). Each death is logged; the delay
        doubles per quick death as for workers, but at most ZEO_MAX_DELAY s (the whole
        site waits for it). It counts as back once it accepts connections."""
        if self.zeo is None or self.stopping.is_set():
            return
        backoff = self.zeo_backoff
        if self.zeo.poll() is None:
            host, port = self.zeo_address.rsplit(":", 1)
            if not self.zeo_listening and accepts(host, int(port)):
                self.zeo_listening = True
                backoff.started()
                if backoff.restarts:
                    _log(f"ZEO server started again (pid {self.zeo.pid}, restarts: "
                         f"{backoff.restarts})")
                self.write_status()
            return
        if self.zeo_dead_pid != self.zeo.pid:
            self.zeo_dead_pid = self.zeo.pid
            backoff.died(now)
            _log(f"ZEO server (pid {self.zeo.pid}) exited with "
                 f"{_exit_text(self.zeo.returncode)}; the workers wait for it; restarting in "
                 f"{backoff.wait_left(now):g} s")
            self.write_status()
        if backoff.due(now):
            self._spawn_zeo()

    def start_workers(self, password: str) -> None:
        """Start the workers in parallel; the first start creates the site, others wait."""
        for number in range(1, self.settings.workers + 1):
            home = self.settings.var / "workers" / str(number)
            port = free_port(self.settings.host)
            env = {
                **os.environ,
                "WENDELIN_INSTANCE": str(home),
                "WENDELIN_VAR": str(home / "var"),
                "WENDELIN_PORT": str(port),
                "WENDELIN_ZEO": self.zeo_address,
                "WENDELIN_JUPYTER": "0",
                "WENDELIN_ADMIN_PASSWORD": password,
                # Which worker this is: WENDELIN_ACTIVITY_WORKERS selects by this number.
                "WENDELIN_WORKER": str(number),
            }
            worker = Worker(number, port, env)
            worker.spawn()
            self.workers.append(worker)
        for worker in self.workers:
            worker.read_until_ready(START_TIMEOUT)
        self.write_status()

    def start_front_door(self) -> None:
        """haproxy on WENDELIN_PORT, round robin over the workers."""
        haproxy = ensure_haproxy()
        servers = "\n".join(
            f"  server worker{w.number} 127.0.0.1:{w.port} check inter 1s fall 2 rise 2"
            for w in self.workers
        )
        conf = Template((TEMPLATES / "haproxy.cfg.in").read_text()).substitute(
            host=self.settings.host, port=self.front_port, servers=servers
        )
        path = self.settings.etc / "haproxy.cfg"
        self.settings.etc.mkdir(parents=True, exist_ok=True)
        path.write_text(conf)
        self.haproxy = subprocess.Popen([haproxy, "-db", "-f", str(path)])
        wait_for_port(self.settings.host, self.front_port, 30, self.haproxy)

    def start_jupyter(self, url: str, password: str) -> str:
        """Jupyter with the ERP5 kernel, talking to the front door."""
        if not self.settings.jupyter:
            return ""
        from erp5_kernel.launcher import start_for_site

        self.jupyter, line = start_for_site(
            url, self.settings.admin_user, password, self.settings.var, self.settings.jupyter_port
        )
        return line

    # -- supervision ----------------------------------------------------------------------
    def started_pids(self) -> set[int]:
        """The processes this cluster started itself (the others are adopted orphans)."""
        processes = [self.zeo, self.haproxy, getattr(self.jupyter, "process", None)]
        processes += [worker.process for worker in self.workers]
        return {process.pid for process in processes if process is not None}

    def end_orphans(self, now: float) -> None:
        """End what dead workers left behind and was reparented here: SIGTERM, SIGKILL
        after ORPHAN_GRACE s; reap those that exited."""
        if not self.subreaper:
            return
        started = self.started_pids()
        for pid, state in children_of_this_process().items():
            if pid in started:
                continue
            try:
                if state == "Z":
                    os.waitpid(pid, os.WNOHANG)
                    self.orphans.pop(pid, None)
                elif pid not in self.orphans:
                    _log(f"ending pid {pid}, left behind by a worker that died")
                    os.kill(pid, signal.SIGTERM)
                    self.orphans[pid] = now
                elif now - self.orphans[pid] >= ORPHAN_GRACE:
                    os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, ChildProcessError):
                self.orphans.pop(pid, None)

    def supervise(self) -> None:
        """Restart the workers that exited (called every second by the main loop)."""
        now = time.monotonic()
        self.end_orphans(now)
        self.supervise_zeo(now)
        for worker in self.workers:
            if self.stopping.is_set() or worker.process.poll() is None:
                continue
            if worker.backoff.died(now):
                _log(f"worker {worker.number} (pid {worker.process.pid}) exited with "
                     f"{_exit_text(worker.process.returncode)}; restarting in "
                     f"{worker.backoff.delay:g} s")
                self.write_status()
            elif worker.backoff.due(now):
                worker.spawn()
                threading.Thread(target=self._await_restart, args=(worker,), daemon=True).start()

    def _await_restart(self, worker: Worker) -> None:
        """Wait for a restarted worker's banner, then log and record it."""
        try:
            worker.read_until_ready(START_TIMEOUT)
        except RuntimeError as error:
            if not self.stopping.is_set():
                _log(f"worker {worker.number} (pid {worker.process.pid}) failed to restart: "
                     f"{str(error).splitlines()[0]}")
                if worker.process.poll() is None:
                    worker.process.kill()  # the next tick of supervise() tries again
            return
        _log(RESTARTED.format(number=worker.number, pid=worker.process.pid, url=worker.url,
                              restarts=worker.backoff.restarts))
        self.write_status()

    @property
    def status_file(self) -> Path:
        return self.settings.var / "cluster-status.json"

    def status(self) -> dict[str, Any]:
        """The cluster as operators see it: front door, ZEO, each worker's pid and restarts."""
        zeo = "external" if self.zeo is None else (
            "serving" if self.zeo_listening and self.zeo.poll() is None else "restarting")
        return {"url": self.url, "zeo": self.zeo_address, "zeo_state": zeo,
                "zeo_restarts": self.zeo_backoff.restarts,
                "zeo_pid": None if self.zeo is None else self.zeo.pid,
                "workers": [worker.status() for worker in self.workers]}

    def write_status(self) -> None:
        """Replace ``var/cluster-status.json`` (written to a temporary file, then renamed)."""
        with self._status_lock:
            self.settings.var.mkdir(parents=True, exist_ok=True)
            partial = self.status_file.with_suffix(".json.tmp")
            partial.write_text(json.dumps(self.status(), indent=2) + "\n")
            partial.replace(self.status_file)

    def stop(self) -> None:
        """Stop, in reverse order of starting, every process this cluster started."""
        self.stopping.set()
        if self.jupyter is not None:
            self.jupyter.stop()
        ordered = [(self.haproxy, signal.SIGTERM)]
        ordered += [(worker.process, signal.SIGINT) for worker in reversed(self.workers)]
        ordered += [(self.zeo, signal.SIGTERM)]
        started = [(process, sig) for process, sig in ordered if process is not None]
        for process, sig in started:
            if process.poll() is None:
                process.send_signal(sig)
        for process, _sig in started:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        deadline = time.monotonic() + ORPHAN_GRACE + 5
        while self.subreaper and time.monotonic() < deadline:
            self.end_orphans(time.monotonic())  # what the workers left, if anything
            if not children_of_this_process():
                break
            time.sleep(0.2)


def _exit_text(code: int) -> str:
    """``code 3`` or ``signal 9 (SIGKILL)`` for a Popen return code."""
    if code < 0:
        try:
            return f"signal {-code} ({signal.Signals(-code).name})"
        except ValueError:
            return f"signal {-code}"
    return f"code {code}"


def _stop(signum: int, frame: Any) -> None:  # pragma: no cover - signal handler
    """SIGTERM stops the cluster the way Ctrl-C does."""
    raise KeyboardInterrupt


def run_cluster(settings: Settings) -> None:
    """Start the cluster, print how to reach it, supervise the workers until Ctrl-C or
    SIGTERM, stop it."""
    password = settings.resolve_admin_password()
    cluster = Cluster(settings)
    signal.signal(signal.SIGTERM, _stop)
    try:
        cluster.start_zeo()
        cluster.start_workers(password)
        cluster.start_front_door()
        url = cluster.url = f"http://{settings.host}:{cluster.front_port}/erp5"
        cluster.write_status()
        jupyter_line = cluster.start_jupyter(url, password)
        print_banner(CLUSTER_READY, url, settings, password, [
            f"  zeo:      {cluster.zeo_address}",
            *(f"  worker {worker.number}: pid {worker.process.pid} at {worker.url}"
              for worker in cluster.workers),
            f"  status:   {cluster.status_file} (workers that exit are restarted)",
            *([jupyter_line] if jupyter_line else []),
        ])
        while True:
            time.sleep(1)
            cluster.supervise()
    except KeyboardInterrupt:
        pass
    finally:
        cluster.stop()
        print("Wendelin cluster stopped.", flush=True)

"""``wendelin cluster``: a ZEO server, N Zope workers and one front door, on this machine.

What ``make cluster`` calls. The ZEO server (``runzeo``) owns Data.fs and the blobs in the
instance's ``var/``; each worker is ``wendelin run`` as a ZEO client with its own blob
cache (``var/workers/<n>/``) on a free port; haproxy balances ``WENDELIN_PORT`` over them
(installed from Debian when missing). With ``WENDELIN_ZEO=host:port`` the workers use
that ZEO server instead and none is started, which is how workers on other machines join.
Ctrl-C or SIGTERM stops everything this command started, by PID.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from string import Template

from .errors import ConfigurationError
from .processes import BANNER_END, CLUSTER_READY, READY, ProcessOutput
from .settings import Settings

TEMPLATES = Path(__file__).resolve().parents[2] / "instance"
BIN = Path(sys.executable).parent


def free_port(host: str = "127.0.0.1") -> int:
    """A port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def wait_for_port(host: str, port: int, timeout: float, process: subprocess.Popen) -> None:
    """Wait until something accepts connections on ``host:port`` (or the process died)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args[0]} exited with {process.returncode}")
        with socket.socket() as probe:
            probe.settimeout(0.5)
            if probe.connect_ex((host, port)) == 0:
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
class Worker:
    """One ``wendelin run`` process as a ZEO client."""

    number: int
    port: int
    process: subprocess.Popen
    url: str = ""
    output: ProcessOutput = field(init=False)

    def __post_init__(self) -> None:
        self.output = ProcessOutput(self.process, echo=f"[worker {self.number}] ")

    def read_until_ready(self, timeout: float) -> None:
        if not self.output.read_until(lambda line: line.startswith(READY), timeout):
            raise RuntimeError(f"worker {self.number} did not start:\n" + self.output.tail(30))
        self.url = self.output.lines[-1].split(" at ", 1)[1].strip()
        self.output.drain()


class Cluster:
    """Start and stop the processes of a local cluster."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.processes: list[subprocess.Popen] = []
        self.workers: list[Worker] = []
        self.zeo_address = settings.zeo or ""
        self.front_port = settings.port or free_port(settings.host)
        self.jupyter = None

    # -- parts ----------------------------------------------------------------------------
    def start_zeo(self) -> None:
        """Start ``runzeo`` over the instance's Data.fs and blobs (unless WENDELIN_ZEO)."""
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
        path = settings.etc / "zeo.conf"
        path.write_text(conf)
        process = subprocess.Popen([str(BIN / "runzeo"), "-C", str(path)])
        self.processes.append(process)
        wait_for_port("127.0.0.1", port, 60, process)

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
            }
            process = subprocess.Popen(
                [str(BIN / "wendelin"), "run"],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            self.processes.append(process)
            self.workers.append(Worker(number, port, process))
        for worker in self.workers:
            worker.read_until_ready(180)

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
        process = subprocess.Popen([haproxy, "-db", "-f", str(path)])
        self.processes.append(process)
        wait_for_port(self.settings.host, self.front_port, 30, process)

    def start_jupyter(self, url: str, password: str) -> str:
        """Jupyter with the ERP5 kernel, talking to the front door."""
        if not self.settings.jupyter:
            return ""
        from erp5_kernel.launcher import start_for_site

        self.jupyter, line = start_for_site(
            url, self.settings.admin_user, password, self.settings.var, self.settings.jupyter_port
        )
        return line

    def stop(self) -> None:
        """Stop, in reverse order, every process this cluster started."""
        if self.jupyter is not None:
            self.jupyter.stop()
        for process in reversed(self.processes):
            if process.poll() is None:
                process.send_signal(
                    signal.SIGINT if process in self._worker_processes() else signal.SIGTERM
                )
        for process in reversed(self.processes):
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def _worker_processes(self) -> list[subprocess.Popen]:
        return [worker.process for worker in self.workers]


def run_cluster(settings: Settings) -> None:
    """Start the cluster, print how to reach it, wait for Ctrl-C or SIGTERM, stop it."""
    from .server import _stop

    password = settings.resolve_admin_password()
    cluster = Cluster(settings)
    signal.signal(signal.SIGTERM, _stop)
    try:
        cluster.start_zeo()
        cluster.start_workers(password)
        cluster.start_front_door()
        url = f"http://{settings.host}:{cluster.front_port}/erp5"
        jupyter_line = cluster.start_jupyter(url, password)
        stored = "" if settings.admin_password else f"  (stored in {settings.password_file})"
        print(f"{CLUSTER_READY}{url}", flush=True)
        print(f"  user:     {settings.admin_user}", flush=True)
        print(f"  password: {password}{stored}", flush=True)
        print(f"  zeo:      {cluster.zeo_address}", flush=True)
        for worker in cluster.workers:
            print(f"  worker {worker.number}: pid {worker.process.pid} at {worker.url}", flush=True)
        if jupyter_line:
            print(jupyter_line, flush=True)
        print(BANNER_END, flush=True)
        while True:
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        cluster.stop()
        print("Wendelin cluster stopped.", flush=True)

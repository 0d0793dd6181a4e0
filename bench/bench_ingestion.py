"""Ingestion benchmark: fluentd-style posts through the front door, one JSON line.

    python bench/bench_ingestion.py [--requests 100] [--kib 64]

Measured in one run: the embedded single process (``wendelin run``), then clusters of 1
and 2 workers (``wendelin cluster``: runzeo, workers, haproxy). With 1, 4 and 16
concurrent clients, each client posting ``--requests`` msgpack bodies of ``--kib`` KiB
to its own tag (one sensor each): requests per second, MiB/s, and conflicts retried per
1000 requests (from the workers' "conflict retry" log lines). ``scaling_2_over_1`` is
the throughput of 2 workers over 1 worker with 16 clients.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import msgpack
import requests
from Products.Wendelin.processes import BANNER_END, CLUSTER_READY, READY, ProcessOutput

BIN = Path(sys.executable).parent
PASSWORD = "bench-secret"
CLIENTS = (1, 4, 16)


class Site:
    """A `wendelin run` or `wendelin cluster` process and everything it prints."""

    def __init__(self, command: str, home: str, workers: int = 1) -> None:
        env = {
            **os.environ,
            "WENDELIN_INSTANCE": home,
            "WENDELIN_PORT": "0",
            "WENDELIN_JUPYTER": "0",
            "WENDELIN_WORKERS": str(workers),
            "WENDELIN_ADMIN_PASSWORD": PASSWORD,
            "WENDELIN_THREADS": "8",
        }
        self.process = subprocess.Popen(
            [str(BIN / "wendelin"), command],
            env=env,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        self.lines: list[str] = []
        self.url = ""

        def banner(line: str) -> bool:
            if match := re.match(rf"(?:{re.escape(READY)}|{re.escape(CLUSTER_READY)})(\S+)", line):
                self.url = match.group(1)
            return line.startswith(BANNER_END)

        reader = ProcessOutput(self.process, self.lines)
        if not (reader.read_until(banner, timeout=600) and self.url):
            raise RuntimeError("did not start:\n" + reader.tail(40))
        reader.drain()

    def conflicts(self) -> int:
        return sum("conflict retry" in line for line in self.lines)

    def stop(self) -> None:
        self.process.send_signal(signal.SIGINT)
        self.process.wait(timeout=60)


def run_clients(url: str, clients: int, count: int, body: bytes, label: str) -> float:
    """Seconds for ``clients`` threads to post ``count`` bodies each, to their own tag."""

    def client(number: int) -> None:
        session = requests.Session()
        session.auth = ("zope", PASSWORD)
        for _ in range(count):
            answer = session.post(
                f"{url}/portal_ingestion_policies/default/ingest",
                params={"reference": f"{label}-{clients}-{number}"},
                data=body,
                headers={"Content-Type": "application/octet-stream"},
                timeout=300,
            )
            if answer.status_code != 204:
                raise RuntimeError(f"ingest answered {answer.status_code}: {answer.text[:200]}")

    began = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(client, range(clients)))
    return time.perf_counter() - began


def measure(site: Site, label: str, count: int, body: bytes) -> dict:
    figures = {}
    for clients in CLIENTS:
        before = site.conflicts()
        seconds = run_clients(site.url, clients, count, body, label)
        total = clients * count
        figures[f"{clients}_clients"] = {
            "requests_per_s": round(total / seconds, 1),
            "mib_per_s": round(total * len(body) / seconds / 2**20, 2),
            "conflicts_per_1000": round(1000 * (site.conflicts() - before) / total, 2),
        }
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=100, help="posts per client")
    parser.add_argument("--kib", type=int, default=64, help="payload per post")
    args = parser.parse_args()
    payload = os.urandom(args.kib * 1024)
    body = msgpack.packb([int(time.time()), payload], use_bin_type=True)
    result: dict = {"requests_per_client": args.requests, "payload_kib": args.kib}
    for label, command, workers in (
        ("embedded", "run", 1),
        ("cluster_1_worker", "cluster", 1),
        ("cluster_2_workers", "cluster", 2),
    ):
        home = tempfile.mkdtemp(prefix=f"wendelin-bench-{label}-")
        try:
            site = Site(command, home, workers)
            try:
                result[label] = measure(site, label, args.requests, body)
            finally:
                site.stop()
        finally:
            shutil.rmtree(home, ignore_errors=True)
    one = result["cluster_1_worker"]["16_clients"]["requests_per_s"]
    two = result["cluster_2_workers"]["16_clients"]["requests_per_s"]
    result["scaling_2_over_1"] = round(two / one, 2)
    print(json.dumps(result))


if __name__ == "__main__":
    main()

"""Ingestion benchmark: fluentd-style posts through the front door, one JSON line.

    python bench/bench_ingestion.py [--requests 100] [--kib 64] [--parts all]

Parts (``--parts``, comma separated; ``all`` by default), each measured in this run:

- ``scaling``: the embedded single process (``wendelin run``), then clusters of 1 and 2
  workers (``wendelin cluster``: runzeo, workers, haproxy). With 1, 4 and 16 concurrent
  clients, each posting ``--requests`` msgpack bodies of ``--kib`` KiB to its own tag:
  requests per second, MiB/s, and conflicts retried per 1000 requests (from the workers'
  "conflict retry" log lines). ``scaling_2_over_1`` is 2 workers over 1 with 16 clients.
- ``one_stream``: one 2-worker cluster, 8 clients on ONE stream against 8 clients on 8
  streams, alternating rounds (medians); ``one_over_eight`` is their ratio (goal >= 0.8)
  and ``retried_percent`` the share of one-stream requests retried (goal < 2).
- ``fsync``: 1 MiB posts to one stream on ``wendelin run`` against a raw ``write`` +
  ``fsync`` of each 1 MiB on the same disk, alternating rounds; ``ratio`` (goal >= 0.5),
  and ``ratio_4_clients`` with 4 clients posting to their own streams; ``refused_post_ms``
  (the same body POSTed to a missing name: Zope's publishing alone) and ``kib_post_ms``
  (a 1 KiB post) say where a post's time goes.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import statistics
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


def run_clients(url: str, clients: int, count: int, body: bytes, label: str,
                one_tag: bool = False) -> float:
    """Seconds for ``clients`` threads to post ``count`` bodies each, to their own tag
    (``one_tag``: all to the tag ``label``)."""

    def client(number: int) -> None:
        session = requests.Session()
        session.auth = ("zope", PASSWORD)
        tag = label if one_tag else f"{label}-{clients}-{number}"
        for _ in range(count):
            answer = session.post(
                f"{url}/portal_ingestion_policies/default/ingest",
                params={"reference": tag},
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


def one_stream(count: int, body: bytes, rounds: int = 3) -> dict:
    """8 clients on one stream against 8 clients on 8 streams, in one 2-worker cluster."""
    home = tempfile.mkdtemp(prefix="wendelin-bench-one-stream-")
    clients = 8
    try:
        site = Site("cluster", home, 2)
        try:
            # The streams exist before timing: first posts create documents (and conflict).
            run_clients(site.url, clients, 1, body, "many")
            run_clients(site.url, clients, 1, body, "one", one_tag=True)
            one, many, retried = [], [], 0
            for _ in range(rounds):
                seconds = run_clients(site.url, clients, count, body, "many")
                many.append(clients * count / seconds)
                before = site.conflicts()
                seconds = run_clients(site.url, clients, count, body, "one", one_tag=True)
                retried += site.conflicts() - before
                one.append(clients * count / seconds)
        finally:
            site.stop()
    finally:
        shutil.rmtree(home, ignore_errors=True)
    requests_made = rounds * clients * count
    return {
        "clients": clients,
        "one_stream_requests_per_s": round(statistics.median(one), 1),
        "eight_streams_requests_per_s": round(statistics.median(many), 1),
        "one_over_eight": round(statistics.median(one) / statistics.median(many), 2),
        "one_stream_requests": requests_made,
        "one_stream_retried": retried,
        "retried_percent": round(100 * retried / requests_made, 2),
    }


def raw_fsync_seconds(directory: str, payload: bytes, count: int) -> float:
    """Seconds to write ``count`` times ``payload`` to a new file, each write fsynced."""
    path = os.path.join(directory, "raw.bin")
    began = time.perf_counter()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        for _ in range(count):
            view = memoryview(payload)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
    finally:
        os.close(fd)
    elapsed = time.perf_counter() - began
    os.unlink(path)
    return elapsed


def refused_post_seconds(url: str, body: bytes, count: int) -> float:
    """Seconds for ``count`` POSTs of ``body`` to a name Zope answers 404: what publishing
    a request with this body costs before any ingestion (the floor of a post)."""
    session = requests.Session()
    session.auth = ("zope", PASSWORD)
    began = time.perf_counter()
    for _ in range(count):
        answer = session.post(f"{url}/no_such_name_here", data=body, timeout=300,
                              headers={"Content-Type": "application/octet-stream"})
        if answer.status_code != 404:
            raise RuntimeError(f"a POST to a missing name answered {answer.status_code}")
    return time.perf_counter() - began


def fsync_ratio(count: int, rounds: int = 3) -> dict:
    """1 MiB posts to one stream on ``wendelin run`` against raw write+fsync of 1 MiB."""
    payload = os.urandom(1 << 20)
    body = msgpack.packb([int(time.time()), payload], use_bin_type=True)
    home = tempfile.mkdtemp(prefix="wendelin-bench-fsync-", dir=os.environ.get("BENCH_DIR"))
    try:
        site = Site("run", home)
        try:
            run_clients(site.url, 1, 2, body, "mib", one_tag=True)  # created, warm
            run_clients(site.url, 4, 1, body, "mib4")
            small = msgpack.packb([int(time.time()), payload[:1024]], use_bin_type=True)
            run_clients(site.url, 1, 2, small, "kib", one_tag=True)
            posts, raw, parallel, refused, small_posts = [], [], [], [], []
            for _ in range(rounds):
                raw.append(raw_fsync_seconds(home, body, count))
                posts.append(run_clients(site.url, 1, count, body, "mib", one_tag=True))
                parallel.append(run_clients(site.url, 4, count // 4, body, "mib4"))
                refused.append(refused_post_seconds(site.url, body, count))
                small_posts.append(run_clients(site.url, 1, count, small, "kib", one_tag=True))
        finally:
            site.stop()
    finally:
        shutil.rmtree(home, ignore_errors=True)
    mib = count * len(body) / 2**20
    post_rate, raw_rate = mib / statistics.median(posts), mib / statistics.median(raw)
    parallel_rate = (count // 4) * 4 * len(body) / 2**20 / statistics.median(parallel)
    return {
        "posts": count,
        "post_mib": round(len(body) / 2**20, 3),
        "ingest_mib_per_s": round(post_rate, 1),
        "raw_write_fsync_mib_per_s": round(raw_rate, 1),
        # per post and per raw write+fsync of the same bytes: what a post costs beyond the disk
        "post_ms": round(1000 * statistics.median(posts) / count, 2),
        "raw_ms": round(1000 * statistics.median(raw) / count, 2),
        "ratio": round(post_rate / raw_rate, 2),
        # the same 1 MiB POSTed to a missing name (Zope answers 404: publishing alone), and
        # a 1 KiB post (ingestion and commit with hardly any bytes): where a post's time goes
        "refused_post_ms": round(1000 * statistics.median(refused) / count, 2),
        "kib_post_ms": round(1000 * statistics.median(small_posts) / count, 2),
        "ingest_4_clients_mib_per_s": round(parallel_rate, 1),
        "ratio_4_clients": round(parallel_rate / raw_rate, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=100, help="posts per client")
    parser.add_argument("--kib", type=int, default=64, help="payload per post")
    parser.add_argument("--parts", default="all", help="scaling,one_stream,fsync or all")
    args = parser.parse_args()
    parts = {"scaling", "one_stream", "fsync"} if args.parts == "all" else set(
        args.parts.split(","))
    payload = os.urandom(args.kib * 1024)
    body = msgpack.packb([int(time.time()), payload], use_bin_type=True)
    result: dict = {"requests_per_client": args.requests, "payload_kib": args.kib}
    if "one_stream" in parts:
        result["one_stream"] = one_stream(args.requests, body)
    if "fsync" in parts:
        result["fsync"] = fsync_ratio(args.requests)
    if "scaling" in parts:
        scaling(result, args.requests, body)
    print(json.dumps(result))


def scaling(result: dict, count: int, body: bytes) -> None:
    """The embedded server and clusters of 1 and 2 workers with 1, 4 and 16 clients."""
    for label, command, workers in (
        ("embedded", "run", 1),
        ("cluster_1_worker", "cluster", 1),
        ("cluster_2_workers", "cluster", 2),
    ):
        home = tempfile.mkdtemp(prefix=f"wendelin-bench-{label}-")
        try:
            site = Site(command, home, workers)
            try:
                result[label] = measure(site, label, count, body)
            finally:
                site.stop()
        finally:
            shutil.rmtree(home, ignore_errors=True)
    one = result["cluster_1_worker"]["16_clients"]["requests_per_s"]
    two = result["cluster_2_workers"]["16_clients"]["requests_per_s"]
    result["scaling_2_over_1"] = round(two / one, 2)


if __name__ == "__main__":
    main()

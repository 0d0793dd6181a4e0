"""Cell round trip benchmark: a trivial cell through Base_executeJupyter, one JSON line.

    python bench/bench_cells.py [--cells 300]

Measured in one run, each as the median (and 90th percentile) of ``--cells`` round trips
of the cell ``1 + 1`` over one kept-alive HTTP connection, as ERP5's kernel sends it:

- ``process_ms``: ``wendelin run`` with cells in cell processes (the default);
- ``process_nohistory_ms``: the same with ``store_history=False`` (no Data Notebook Line);
- ``in_process_ms``: ``wendelin run`` with ``WENDELIN_CELL_WORKERS=0`` (cells in the
  server's request threads, as before cell processes);
- ``ipykernel_ms``: a local ipykernel through jupyter_client (``execute_interactive``).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests
from Products.Wendelin.processes import READY, ProcessOutput

BIN = Path(sys.executable).parent
PASSWORD = "bench-secret"


class Site:
    """A ``wendelin run`` process on a random port over a temporary instance."""

    def __init__(self, home: str, **env: str) -> None:
        self.process = subprocess.Popen(
            [str(BIN / "wendelin"), "run"],
            env={**os.environ, "WENDELIN_INSTANCE": home, "WENDELIN_PORT": "0",
                 "WENDELIN_JUPYTER": "0", "WENDELIN_ADMIN_PASSWORD": PASSWORD, **env},
            text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )
        self.lines: list[str] = []
        output = ProcessOutput(self.process, self.lines)
        if not output.read_until(lambda line: line.startswith(READY), 180):
            self.stop()
            raise RuntimeError("server did not start:\n" + "".join(self.lines[-30:]))
        self.url = self.lines[-1].split(" at ", 1)[1].strip()
        output.drain()

    def stop(self) -> None:
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def round_trips(url: str, cells: int, store_history: bool = True) -> list[float]:
    """Seconds per round trip of a trivial cell (after a warm-up)."""
    session = requests.Session()
    session.auth = ("zope", PASSWORD)
    form = {"python_expression": "1 + 1", "reference": "bench-cells",
            "store_history": str(store_history)}
    times = []
    for number in range(cells + 20):
        started = time.perf_counter()
        reply = session.post(f"{url}/Base_executeJupyter", data=form, timeout=120).json()
        elapsed = time.perf_counter() - started
        assert reply["status"] == "ok", reply
        if number >= 20:
            times.append(elapsed)
    return times


def ipykernel_round_trips(cells: int) -> list[float]:
    """Seconds per ``1 + 1`` round trip through a local ipykernel."""
    from jupyter_client import KernelManager

    manager = KernelManager(kernel_name="python3")
    manager.start_kernel()
    client = manager.client()
    client.start_channels()
    client.wait_for_ready(timeout=60)
    times = []
    try:
        for number in range(cells + 20):
            started = time.perf_counter()
            client.execute_interactive("1 + 1", timeout=60, output_hook=lambda msg: None)
            if number >= 20:
                times.append(time.perf_counter() - started)
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
    return times


def figures(times: list[float]) -> dict[str, float]:
    ordered = sorted(times)
    return {"median": round(statistics.median(ordered) * 1000, 2),
            "p90": round(ordered[int(len(ordered) * 0.9)] * 1000, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=300)
    args = parser.parse_args()
    result: dict[str, object] = {"cells": args.cells}
    with tempfile.TemporaryDirectory(prefix="bench-cells-") as home:
        site = Site(str(Path(home) / "pool"))
        try:
            result["process_ms"] = figures(round_trips(site.url, args.cells))
            result["process_nohistory_ms"] = figures(round_trips(site.url, args.cells, False))
        finally:
            site.stop()
        site = Site(str(Path(home) / "inprocess"), WENDELIN_CELL_WORKERS="0")
        try:
            result["in_process_ms"] = figures(round_trips(site.url, args.cells))
            result["in_process_nohistory_ms"] = figures(
                round_trips(site.url, args.cells, False))
        finally:
            site.stop()
    result["ipykernel_ms"] = figures(ipykernel_round_trips(args.cells))
    print(json.dumps(result))


if __name__ == "__main__":
    main()

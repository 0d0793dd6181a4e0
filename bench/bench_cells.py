"""Cell round trip benchmark: a trivial cell through Base_executeJupyter, one JSON line.

    python bench/bench_cells.py [--cells 300]

Each figure is the median and 95th percentile of ``--cells`` round trips of the cell
``1 + 1`` over one kept-alive HTTP connection, as ERP5's kernel sends it. The ways run
side by side and are measured in interleaved batches, so a change of the machine's load
(``load_before``, ``load_after``: the one-minute load average) touches each alike:

- ``process_nohistory_ms``: ``wendelin run`` with cells in cell processes (the default),
  ``store_history=False`` (no Data Notebook Line): the trivial cell of issue 13's goal;
- ``in_process_nohistory_ms``: the same with ``WENDELIN_CELL_WORKERS=0`` (cells in the
  server's request threads, as before cell processes);
- ``ipykernel_ms``: a local ipykernel through jupyter_client (``execute_interactive``);
- ``process_ms``, ``in_process_ms``: both servers with the history line (the kernel's
  default), a catalogued Data Notebook Line per cell.
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
from typing import Any

import requests
from Products.Wendelin.processes import READY, ProcessOutput

BIN = Path(sys.executable).parent
PASSWORD = "bench-secret"
#: Round trips of each way before the measured ones (caches, first notebook, processes).
WARM_UP = 20


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


class Cells:
    """A kept-alive HTTP session posting ``1 + 1`` to one notebook, as ERP5's kernel does."""

    def __init__(self, url: str, reference: str, store_history: bool) -> None:
        self.url = url
        self.session = requests.Session()
        self.session.auth = ("zope", PASSWORD)
        self.form = {"python_expression": "1 + 1", "reference": reference,
                     "store_history": str(store_history)}

    def __call__(self) -> float:
        """Seconds of one round trip."""
        started = time.perf_counter()
        reply = self.session.post(f"{self.url}/Base_executeJupyter", data=self.form,
                                  timeout=120).json()
        elapsed = time.perf_counter() - started
        assert reply["status"] == "ok", reply
        return elapsed


class IPyKernel:
    """A local ipykernel through jupyter_client (``execute_interactive``)."""

    def __init__(self) -> None:
        from jupyter_client import KernelManager

        self.manager = KernelManager(kernel_name="python3")
        self.manager.start_kernel()
        self.client = self.manager.client()
        self.client.start_channels()
        self.client.wait_for_ready(timeout=60)

    def __call__(self) -> float:
        started = time.perf_counter()
        self.client.execute_interactive("1 + 1", timeout=60, output_hook=lambda msg: None)
        return time.perf_counter() - started

    def stop(self) -> None:
        self.client.stop_channels()
        self.manager.shutdown_kernel(now=True)


def figures(times: list[float]) -> dict[str, float]:
    """Median and 95th percentile in milliseconds."""
    ordered = sorted(times)
    return {"median": round(statistics.median(ordered) * 1000, 2),
            "p95": round(ordered[int(len(ordered) * 0.95)] * 1000, 2)}


def measure(ways: dict[str, Any], cells: int, rounds: int = 10) -> dict[str, list[float]]:
    """Round trips of every way, in interleaved batches: load changes touch each alike."""
    times: dict[str, list[float]] = {name: [] for name in ways}
    for way in ways.values():
        for _ in range(WARM_UP):
            way()
    batch = max(1, cells // rounds)
    for _ in range(rounds):
        for name, way in ways.items():
            times[name] += [way() for _ in range(batch)]
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=300)
    args = parser.parse_args()
    result: dict[str, object] = {"cells": args.cells, "load_before": os.getloadavg()[0]}
    with tempfile.TemporaryDirectory(prefix="bench-cells-") as home:
        pool = Site(str(Path(home) / "pool"))
        in_process = Site(str(Path(home) / "inprocess"), WENDELIN_CELL_WORKERS="0")
        kernel = IPyKernel()
        try:
            ways = {
                "process_nohistory_ms": Cells(pool.url, "bench-cells", False),
                "in_process_nohistory_ms": Cells(in_process.url, "bench-cells", False),
                "ipykernel_ms": kernel,
                "process_ms": Cells(pool.url, "bench-cells-history", True),
                "in_process_ms": Cells(in_process.url, "bench-cells-history", True),
            }
            for name, times in measure(ways, args.cells).items():
                result[name] = figures(times)
        finally:
            kernel.stop()
            pool.stop()
            in_process.stop()
    result["load_after"] = os.getloadavg()[0]
    print(json.dumps(result))


if __name__ == "__main__":
    main()

"""The output of a child process we started: wait for its banner, then keep draining it.

``wendelin cluster`` reads its workers this way; the tests and benchmarks that start
``wendelin run`` or ``wendelin cluster`` read those the same way.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
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

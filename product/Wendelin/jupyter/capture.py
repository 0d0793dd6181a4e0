"""Per-thread capture of stdout, stderr and displayed outputs of one notebook cell.

Cells of different notebooks run at the same time in different server threads, so
``contextlib.redirect_stdout`` (which swaps the process-wide ``sys.stdout``) would mix
their output. Instead ``sys.stdout``/``sys.stderr`` are wrapped once by a proxy that
writes to the current thread's capture when there is one and to the real stream
otherwise.
"""

from __future__ import annotations

import io
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TextIO

Bundle = dict[str, Any]

_local = threading.local()
_install_lock = threading.Lock()


@dataclass
class Capture:
    """What one cell wrote and displayed, in order of display."""

    stdout: io.StringIO = field(default_factory=io.StringIO)
    stderr: io.StringIO = field(default_factory=io.StringIO)
    displays: list[Bundle] = field(default_factory=list)


class _ThreadStream(io.TextIOBase):
    """A text stream writing to the current thread's capture, else to the original stream."""

    def __init__(self, name: str, original: TextIO) -> None:
        self._name = name
        self.original = original

    def _target(self) -> TextIO:
        capture = getattr(_local, "capture", None)
        return getattr(capture, self._name) if capture is not None else self.original

    def write(self, text: str) -> int:
        return self._target().write(text)

    def flush(self) -> None:
        self._target().flush()

    def writable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self.original.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self.original, "encoding", "utf-8")

    def isatty(self) -> bool:
        return False


def _install() -> None:
    """Wrap ``sys.stdout`` and ``sys.stderr`` once per process."""
    with _install_lock:
        if not isinstance(sys.stdout, _ThreadStream):
            sys.stdout = _ThreadStream("stdout", sys.stdout)
        if not isinstance(sys.stderr, _ThreadStream):
            sys.stderr = _ThreadStream("stderr", sys.stderr)


@contextmanager
def capturing() -> Iterator[Capture]:
    """Capture this thread's output for the duration of the block."""
    _install()
    previous = getattr(_local, "capture", None)
    capture = _local.capture = Capture()
    try:
        yield capture
    finally:
        _local.capture = previous


def current_capture() -> Capture | None:
    """The capture of the cell running in this thread, if any."""
    return getattr(_local, "capture", None)

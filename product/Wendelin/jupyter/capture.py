"""Per-cell capture of stdout, stderr and displayed outputs of one notebook cell.

Cells of different notebooks run at the same time in different server threads, so
``contextlib.redirect_stdout`` (which swaps the process-wide ``sys.stdout`` per call)
would mix their output. Instead ``sys.stdout``/``sys.stderr`` are wrapped once per
process, at product start-up (:func:`install`, from :func:`Products.Wendelin.jupyter.
install_process_hooks`; the first cell does it if start-up did not), by a proxy that
writes to the capture of the current execution context (a ContextVar: one thread, or
one task) when there is one and to the original stream otherwise. Request code never
swaps the process's streams.
"""

from __future__ import annotations

import io
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, TextIO

Bundle = dict[str, Any]

_current: ContextVar[Capture | None] = ContextVar("wendelin_cell_capture", default=None)
_install_lock = threading.Lock()


@dataclass
class Capture:
    """What one cell wrote and displayed, in order of display."""

    stdout: io.StringIO = field(default_factory=io.StringIO)
    stderr: io.StringIO = field(default_factory=io.StringIO)
    displays: list[Bundle] = field(default_factory=list)


class _ThreadStream(io.TextIOBase):
    """A text stream writing to the current context's capture, else to the original stream."""

    def __init__(self, name: str, original: TextIO) -> None:
        self._name = name
        self.original = original

    def _target(self) -> TextIO:
        capture = _current.get()
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


def install() -> None:
    """Wrap ``sys.stdout`` and ``sys.stderr`` once per process (idempotent)."""
    with _install_lock:
        if not isinstance(sys.stdout, _ThreadStream):
            sys.stdout = _ThreadStream("stdout", sys.stdout)
        if not isinstance(sys.stderr, _ThreadStream):
            sys.stderr = _ThreadStream("stderr", sys.stderr)


@contextmanager
def capturing() -> Iterator[Capture]:
    """Capture this context's output for the duration of the block."""
    install()
    capture = Capture()
    token = _current.set(capture)
    try:
        yield capture
    finally:
        _current.reset(token)


def current_capture() -> Capture | None:
    """The capture of the cell running in this context, if any."""
    return _current.get()

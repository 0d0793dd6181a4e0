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
import os
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


def _output_limit() -> int:
    """Most characters of each output stream, and bytes of displays, a cell keeps."""
    from ..settings import parse_size

    try:
        return parse_size(os.environ.get("WENDELIN_CELL_OUTPUT") or "4MiB")
    except ValueError:
        return 4 * 1024**2


#: A cell's output is bounded (WENDELIN_CELL_OUTPUT, default 4 MiB per stream and for its
#: displays): it travels to the server process, into the answer and into the history line.
OUTPUT_LIMIT = _output_limit()


def _limit_note(dropped: int, what: str) -> str:
    return (f"\n[{dropped} more {what} not shown: a cell's output is limited to "
            f"WENDELIN_CELL_OUTPUT = {OUTPUT_LIMIT} per stream]\n")


class BoundedText(io.StringIO):
    """A text buffer keeping the first :data:`OUTPUT_LIMIT` characters, counting the rest."""

    def __init__(self) -> None:
        super().__init__()
        self.kept = 0
        self.dropped = 0

    def write(self, text: str) -> int:
        room = OUTPUT_LIMIT - self.kept
        if room > 0:
            super().write(text[:room])
            self.kept += min(room, len(text))
        self.dropped += max(0, len(text) - max(room, 0))
        return len(text)

    def getvalue(self) -> str:
        value = super().getvalue()
        return value + _limit_note(self.dropped, "characters") if self.dropped else value


def _bundle_size(bundle: Bundle) -> int:
    data = bundle.get("data", bundle)
    return sum(len(value) if isinstance(value, (str, bytes)) else len(repr(value))
               for value in (data.values() if isinstance(data, dict) else [data]))


@dataclass
class Capture:
    """What one cell wrote and displayed, in order of display (bounded: see OUTPUT_LIMIT)."""

    stdout: BoundedText = field(default_factory=BoundedText)
    stderr: BoundedText = field(default_factory=BoundedText)
    displays: list[Bundle] = field(default_factory=list)
    display_bytes: int = 0

    def add_display(self, bundle: Bundle) -> None:
        """Keep a displayed bundle, or a note once the cell's displays reach the limit."""
        size = _bundle_size(bundle)
        if self.display_bytes + size > OUTPUT_LIMIT:
            note = _limit_note(size, "bytes of display").strip()
            self.displays.append({"data": {"text/plain": note}, "metadata": {}})
            return
        self.display_bytes += size
        self.displays.append(bundle)


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

"""Cells' source lines for tracebacks and ``inspect``, in ``linecache``, bounded.

Every cell and replayed definition is compiled under a name of its own (``<cell-17>``)
whose lines ``linecache`` must hold for a traceback to show them. A long-running server
or cell process runs cells without end, so only the :data:`MAX_SOURCES` most recent
names are kept; an older name's lines are removed from ``linecache`` too.
"""

from __future__ import annotations

import linecache
import threading
from collections import OrderedDict

MAX_SOURCES = 512

_lock = threading.Lock()
_kept: OrderedDict[str, None] = OrderedDict()


def register_source(filename: str, source: str) -> None:
    """Make ``source`` the lines of ``filename`` for tracebacks (the oldest beyond the bound go)."""
    with _lock:
        linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
        _kept[filename] = None
        _kept.move_to_end(filename)
        while len(_kept) > MAX_SOURCES:
            old, _ = _kept.popitem(last=False)
            linecache.cache.pop(old, None)


def kept_count() -> int:
    """How many cell sources ``linecache`` holds for us now."""
    with _lock:
        return len(_kept)

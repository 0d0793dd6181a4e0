"""The memory budget: how many bytes an operation may copy into RAM at once.

Read from ``WENDELIN_MEMORY_BUDGET`` (default 512 MiB); tests and benchmarks set it
with :func:`memory_budget`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from .errors import BigDataError, OutOfCoreError

DEFAULT_BUDGET = 512 * 1024**2
_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}
#: Per execution context (thread, task), so one request or cell cannot change another's.
_override: ContextVar[int | None] = ContextVar("wendelin_memory_budget", default=None)


def parse_size(text: str) -> int:
    """``"512MiB"`` -> 536870912; a bad text raises with the text in the message."""
    match = re.match(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?\s*$", str(text), re.IGNORECASE)
    if not match:
        raise BigDataError(f"not a size: {text!r} (use e.g. 512MiB, 2GiB, 1048576)")
    return int(float(match.group(1)) * _UNITS[match.group(2).upper()])


def get_memory_budget() -> int:
    """The budget of this execution context: an override if one is active, else the setting."""
    override = _override.get()
    if override is not None:
        return override
    return parse_size(os.environ.get("WENDELIN_MEMORY_BUDGET", str(DEFAULT_BUDGET)))


@contextmanager
def memory_budget(nbytes: int) -> Iterator[int]:
    """Use ``nbytes`` as the budget inside the ``with`` block, in this context only.

    A ContextVar, not a global: another thread or task keeps its own budget."""
    token = _override.set(int(nbytes))
    try:
        yield int(nbytes)
    finally:
        _override.reset(token)


def check_copy(nbytes: int, what: str, hint: str) -> None:
    """Raise :class:`OutOfCoreError` if copying ``nbytes`` would exceed the budget."""
    budget = get_memory_budget()
    if nbytes > budget:
        raise OutOfCoreError(
            f"{what} would copy {nbytes} bytes into memory, over the memory budget of "
            f"{budget} bytes (WENDELIN_MEMORY_BUDGET); {hint}"
        )

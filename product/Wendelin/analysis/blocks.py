"""How much work one step of an out-of-core algorithm may hold in memory."""

from __future__ import annotations

from ..bigdata.budget import get_memory_budget

MIN_WORK = 256 * 1024
MAX_WORK = 64 * 1024**2


def work_bytes(parts: int = 8) -> int:
    """Bytes one block of work may use: a ``1/parts`` share of the memory budget."""
    return max(MIN_WORK, min(MAX_WORK, get_memory_budget() // parts))


def rows_for(row_bytes: int, parts: int = 8) -> int:
    """How many rows of ``row_bytes`` fit in one block of work (at least one)."""
    return max(1, work_bytes(parts) // max(1, row_bytes))

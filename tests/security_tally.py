"""The adversarial suite's counters, printed at the end of ``make test``.

Kept apart from ``tests/security/conftest.py`` because with ``pytest -n 2`` the tests run
in worker processes: each worker sends its counters to the controller
(``tests/conftest.py``), which prints their sum.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Tally:
    """What the adversarial suite tried and what got through (printed at session end)."""

    tries: int = 0
    leaks: int = 0
    forged_accepted: int = 0
    errors_500: int = 0
    partial_writes: int = 0
    notes: list[str] = field(default_factory=list)

    def note(self, kind: str, text: str) -> None:
        """Count one finding of ``kind`` and keep its description."""
        setattr(self, kind, getattr(self, kind) + 1)
        if len(self.notes) < 400:
            self.notes.append(f"{kind}: {text}")

    def line(self) -> str:
        return (
            f"security suite: tries={self.tries} leaks={self.leaks} "
            f"forged_accepted={self.forged_accepted} 500s={self.errors_500} "
            f"partial_writes={self.partial_writes}"
        )

    def add(self, other: dict[str, Any]) -> None:
        """Add the counters of another process (an xdist worker's)."""
        for kind in ("tries", "leaks", "forged_accepted", "errors_500", "partial_writes"):
            setattr(self, kind, getattr(self, kind) + int(other.get(kind, 0)))
        self.notes.extend(list(other.get("notes", []))[: max(0, 400 - len(self.notes))])


def print_tally(terminalreporter: Any, tally: Tally) -> None:
    terminalreporter.write_sep("-", "adversarial suite figures")
    terminalreporter.write_line(tally.line())
    for note in tally.notes[:60]:
        terminalreporter.write_line("  " + note)

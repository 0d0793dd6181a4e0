"""Contracts of the storage core; the conformance tests in ``tests/bigdata`` check them."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator


class BigFile(ABC):
    """A growable byte file made of fixed-size blocks; holes read as zeros."""

    blksize: int

    @property
    @abstractmethod
    def size(self) -> int:
        """Current length in bytes."""

    @abstractmethod
    def read(self, offset: int, n: int) -> bytes:
        """Up to ``n`` bytes from ``offset`` (fewer at the end of the file)."""

    @abstractmethod
    def write(self, offset: int, data) -> None:
        """Write ``data`` (any buffer) at ``offset``, growing the file if needed."""

    @abstractmethod
    def append(self, data) -> int:
        """Write ``data`` at the end; return the offset it was written at."""

    @abstractmethod
    def truncate(self, n: int) -> None:
        """Shrink or grow (with a hole) the file to exactly ``n`` bytes."""

    @abstractmethod
    def iterate(
        self, start: int = 0, end: int | None = None, chunk_size: int | None = None
    ) -> Iterator[bytes]:
        """Yield the bytes of ``[start, end)`` in chunks of at most ``chunk_size``."""

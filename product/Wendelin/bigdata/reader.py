"""BigFileReader: a seekable read-only binary file over a big file, read block by block.

``wave.open``, ``scipy.io.wavfile.read`` and ``soundfile.read`` accept it, and only
what they read is ever in memory (the tutorial's ``BigFileReader``).
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .bigfile import ZBigFile


class BigFileReader(io.RawIOBase):
    """``io.RawIOBase`` over a :class:`ZBigFile`: ``readinto``, ``seek``, ``tell``."""

    def __init__(self, bigfile: ZBigFile) -> None:
        super().__init__()
        self._file = bigfile
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        view = memoryview(buffer).cast("B")
        n = max(0, min(len(view), self._file.size - self._pos))
        if n:
            self._file.readinto(self._pos, view[:n])
            self._pos += n
        return n

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_SET:
            position = offset
        elif whence == io.SEEK_CUR:
            position = self._pos + offset
        elif whence == io.SEEK_END:
            position = self._file.size + offset
        else:
            raise ValueError(f"invalid whence: {whence!r}")
        if position < 0:
            raise ValueError(f"negative seek position {position}")
        self._pos = position
        return position

    def tell(self) -> int:
        return self._pos

    def __len__(self) -> int:
        return self._file.size

"""ZBigFile: a persistent growable byte file whose fixed-size blocks are ZODB blobs.

Each block's bytes live in a blob file on disk, never in the pickle, so writing a file
larger than RAM in one transaction only costs disk, and reading maps or streams the
blob files. Block objects are ghosted after use to keep the ZODB cache small.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import numpy as np
from BTrees.IOBTree import IOBTree
from persistent import Persistent
from ZODB.blob import Blob

from .abc import BigFile
from .budget import check_copy
from .errors import BigFileError

DEFAULT_BLKSIZE = 2 * 1024**2


def as_bytes_view(data) -> memoryview:
    """A flat byte view of any buffer (bytes, memoryview, contiguous or not ndarray)."""
    if isinstance(data, np.ndarray):
        if not (data.flags.c_contiguous or data.flags.f_contiguous):
            data = np.ascontiguousarray(data)
        return memoryview(data.reshape(-1, order="A")).cast("B")
    try:
        view = memoryview(data)
    except TypeError:
        raise BigFileError(f"cannot write {type(data).__name__}: not a bytes-like object") from None
    if not view.contiguous:
        view = memoryview(view.tobytes())
    return view.cast("B") if view.format != "B" or view.ndim != 1 else view


def _check_offset(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise BigFileError(f"{name} must be an integer, got {value!r}")
    if value < 0:
        raise BigFileError(f"{name} must not be negative, got {value}")
    return int(value)


class ZBigFile(Persistent, BigFile):
    """A byte file of ``blksize`` blocks kept in an ``IOBTree`` of blobs."""

    def __init__(self, blksize: int = DEFAULT_BLKSIZE) -> None:
        if isinstance(blksize, bool) or not isinstance(blksize, int) or blksize <= 0:
            raise BigFileError(f"blksize must be a positive integer, got {blksize!r}")
        self.blksize = blksize
        self._size = 0
        self._blocks = IOBTree()

    @property
    def size(self) -> int:
        return self._size

    def __len__(self) -> int:
        return self._size

    # -- blocks ---------------------------------------------------------------------
    def block_files(self, first: int, last: int) -> Iterator[tuple[int, str, int]]:
        """``(index, path, length)`` of the stored blocks in ``[first, last]``.

        The path is the blob's committed file, or its uncommitted file when this
        transaction changed the block; committed blob files are never modified.
        """
        for index, blob in self._blocks.items(first, last):
            with blob.open("r") as stream:
                name = stream.name
                length = os.fstat(stream.fileno()).st_size
            blob._p_deactivate()
            if length:
                yield index, name, length

    def segments(self, start: int, end: int) -> list[tuple[str | None, int, int]]:
        """``(path, offset in file, length)`` pieces covering ``[start, end)``.

        A path of None is a hole (zeros). The paths are blob files, so the pieces can
        be read after the ZODB connection is closed, e.g. while a response is sent.
        """
        end = min(end, self._size)
        if end <= start:
            return []
        blksize = self.blksize
        files = {
            index: (path, length)
            for index, path, length in self.block_files(start // blksize, (end - 1) // blksize)
        }
        pieces = []
        pos = start
        while pos < end:
            index, within = divmod(pos, blksize)
            take = min(blksize - within, end - pos)
            path, length = files.get(index, (None, 0))
            stored = max(0, min(take, length - within)) if path else 0
            if stored:
                pieces.append((path, within, stored))
            if take > stored:
                pieces.append((None, 0, take - stored))
            pos += take
        return pieces

    def readinto(self, offset: int, buffer) -> None:
        """Fill ``buffer`` with the bytes at ``offset`` (zeros for holes and past the end)."""
        view = memoryview(buffer).cast("B")
        pos, blksize = 0, self.blksize
        while pos < len(view):
            index, within = divmod(offset + pos, blksize)
            take = min(blksize - within, len(view) - pos)
            piece = view[pos : pos + take]
            blob = self._blocks.get(index)
            got = 0
            if blob is not None:
                with blob.open("r") as stream:
                    stream.seek(within)
                    got = stream.readinto(piece) or 0
                blob._p_deactivate()
            if got < take:
                piece[got:] = bytes(take - got)
            pos += take

    # -- BigFile contract -----------------------------------------------------------------
    def read(self, offset: int, n: int) -> bytes:
        offset, n = _check_offset("offset", offset), _check_offset("n", n)
        end = min(offset + n, self._size)
        if end <= offset:
            return b""
        check_copy(end - offset, "read()", "use iterate() or a mapped view instead")
        buffer = bytearray(end - offset)
        self.readinto(offset, buffer)
        return bytes(buffer)

    def write(self, offset: int, data) -> None:
        offset = _check_offset("offset", offset)
        view = as_bytes_view(data)
        pos, blksize = 0, self.blksize
        while pos < len(view):
            index, within = divmod(offset + pos, blksize)
            take = min(blksize - within, len(view) - pos)
            blob = self._blocks.get(index)
            if blob is None:
                blob = Blob()
                self._blocks[index] = blob
                mode = "w"
            else:
                mode = "w" if within == 0 and take == blksize else "r+"
            with blob.open(mode) as stream:
                stream.seek(within)
                stream.write(view[pos : pos + take])
            pos += take
        if offset + len(view) > self._size:
            self._size = offset + len(view)

    def append(self, data) -> int:
        offset = self._size
        self.write(offset, data)
        return offset

    def truncate(self, n: int) -> None:
        n = _check_offset("size", n)
        if n < self._size:
            keep_blocks = -(-n // self.blksize)
            for index in list(self._blocks.keys(keep_blocks)):
                del self._blocks[index]
            tail = n - (keep_blocks - 1) * self.blksize if keep_blocks else 0
            blob = self._blocks.get(keep_blocks - 1) if keep_blocks else None
            if blob is not None:
                with blob.open("r") as stream:
                    length = os.fstat(stream.fileno()).st_size
                    kept = stream.read(tail) if length > tail else None
                if kept is not None:
                    # A new blob, never a shrunk file: mapped views of the old one stay valid.
                    shorter = Blob()
                    with shorter.open("w") as stream:
                        stream.write(kept)
                    self._blocks[keep_blocks - 1] = shorter
        if n != self._size:
            self._size = n

    def iterate(
        self, start: int = 0, end: int | None = None, chunk_size: int | None = None
    ) -> Iterator[bytes]:
        start = _check_offset("start", start)
        end = self._size if end is None else min(_check_offset("end", end), self._size)
        chunk_size = self.blksize if chunk_size is None else _check_offset("chunk_size", chunk_size)
        if chunk_size == 0:
            raise BigFileError("chunk_size must be positive, got 0")
        pos = start
        while pos < end:
            take = min(chunk_size, end - pos)
            yield self.read(pos, take)
            pos += take

    def __repr__(self) -> str:
        return f"<ZBigFile size={self._size} blksize={self.blksize}>"


def read_segments(
    pieces: list[tuple[str | None, int, int]], chunk: int = 1 << 20
) -> Iterator[bytes]:
    """Yield the bytes of :meth:`ZBigFile.segments` pieces, without touching ZODB."""
    for path, offset, length in pieces:
        if path is None:
            while length > 0:
                take = min(chunk, length)
                yield bytes(take)
                length -= take
            continue
        with open(path, "rb") as stream:
            stream.seek(offset)
            while length > 0:
                data = stream.read(min(chunk, length))
                if not data:
                    raise BigFileError(f"blob file {path} is shorter than expected")
                yield data
                length -= len(data)

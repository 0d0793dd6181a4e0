"""Read-only views of a big file's bytes, made by mapping its blob files into memory.

One address range is reserved for the requested blocks (anonymous zero pages), and
each stored block's file is mapped over it at its offset with ``MAP_FIXED``. Pages
then come from the kernel's page cache on first touch and are reclaimable, so a view
costs almost no anonymous memory whatever its size. Where mapping is impossible
(not Linux, a block size that is not a multiple of the page size) the touched blocks
are copied instead, within the memory budget.
"""

from __future__ import annotations

import ctypes
import mmap
import os
import sys
from typing import Any

from .budget import check_copy
from .errors import BigDataError, OutOfCoreError

PAGESIZE = mmap.PAGESIZE
PROT_READ = 0x1
MAP_PRIVATE = 0x02
MAP_FIXED = 0x10
MAP_ANONYMOUS = 0x20
MAP_NORESERVE = 0x4000

#: The C library (Linux only; ``mapping_enabled`` says whether it is there).
_libc: Any = None
if sys.platform.startswith("linux"):
    try:
        _libc = ctypes.CDLL(None, use_errno=True)
        _libc.mmap.restype = ctypes.c_void_p
        _libc.mmap.argtypes = [
            ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int,
            ctypes.c_long,
        ]
        _libc.munmap.restype = ctypes.c_int
        _libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
    except (OSError, AttributeError):  # pragma: no cover - exotic libc
        _libc = None

MAP_FAILED = ctypes.c_void_p(-1).value

#: Tests turn this off to exercise the copying fallback.
mapping_enabled = _libc is not None


def can_map(blksize: int) -> bool:
    return mapping_enabled and blksize % PAGESIZE == 0


class _Region:
    """Owns one reserved address range; unmapped when the last view on it dies."""

    def __init__(self, length: int) -> None:
        self.length = length
        address = _libc.mmap(
            None, length, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0
        )
        if address in (None, MAP_FAILED):
            errno = ctypes.get_errno()
            raise OutOfCoreError(
                f"cannot reserve {length} bytes of address space: {os.strerror(errno)}"
            )
        self.address = address

    def map_file(self, offset: int, path: str, file_offset: int, length: int) -> None:
        """Map ``length`` bytes of ``path`` from ``file_offset`` at ``offset`` in the region."""
        pages = -(-length // PAGESIZE) * PAGESIZE
        fd = os.open(path, os.O_RDONLY)
        try:
            address = _libc.mmap(
                self.address + offset, pages, PROT_READ, MAP_PRIVATE | MAP_FIXED, fd,
                file_offset,
            )
        finally:
            os.close(fd)
        if address in (None, MAP_FAILED):
            errno = ctypes.get_errno()
            raise BigDataError(f"cannot map {path}: {os.strerror(errno)}")

    def __del__(self) -> None:
        if getattr(self, "address", None):
            _libc.munmap(self.address, self.length)
            self.address = None


def map_range(bigfile, start: int, nbytes: int) -> memoryview:
    """A read-only byte view of ``bigfile[start:start + nbytes]``; zeros past the end."""
    if nbytes <= 0:
        return memoryview(b"")
    blksize = bigfile.blksize
    if not can_map(blksize):
        check_copy(nbytes, "a view (mapping unavailable here)", "read a smaller slice")
        buffer = bytearray(nbytes)
        bigfile.readinto(start, buffer)
        return memoryview(buffer).toreadonly()
    first = start // blksize
    last = (start + nbytes - 1) // blksize
    region = _Region((last - first + 1) * blksize)
    run = None  # [region offset, path, file offset, length]: blocks contiguous in one file
    for index, path, file_offset, length in bigfile.block_files(first, last):
        at = (index - first) * blksize
        if (
            run is not None
            and run[1] == path
            and run[0] + run[3] == at
            and run[2] + run[3] == file_offset
            and run[3] % blksize == 0
        ):
            run[3] += length
            continue
        if run is not None:
            region.map_file(*run)
        run = [at, path, file_offset, length]
    if run is not None:
        region.map_file(*run)
    raw = (ctypes.c_char * region.length).from_address(region.address)
    raw._wendelin_region = region  # type: ignore[attr-defined]  # the view keeps the mapping alive
    begin = start - first * blksize
    return memoryview(raw).cast("B")[begin : begin + nbytes].toreadonly()

"""ZBigFile: a persistent growable byte file whose fixed-size blocks live in ZODB blobs.

Each block's bytes live in a blob file on disk, never in the pickle, so writing a file
larger than RAM in one transaction only costs disk, and reading maps or streams the
blob files.

Blocks written together in one transaction share one blob file (an *extent* of up to
:data:`MAX_EXTENT` bytes): block ``i`` is stored at ``slot * blksize`` of its extent's
file. Fewer, larger files make writes, commits and mappings cheap (one file creation,
one rename and one ``mmap`` per extent instead of per block). A later transaction that
changes part of a committed extent writes new blobs for just the blocks it touches
(copy on write); committed blob files are never modified, so mapped views stay valid.

Appends go to a short *tail* of runs kept in the file's own state, each run one blob
written by one transaction, so appends to one file from concurrent transactions merge
at commit (:meth:`ZBigFile._p_resolveConflict`: the later commit's runs go after the
earlier's) instead of conflicting on the size and the block table. A run's file is laid
out in block coordinates (it starts with a copy of the partial block before it), so when
no other append came in between it is adopted into the block table without a copy;
the tail is folded into the table now and then, and before any other kind of write.
ZODB fsyncs Data.fs at commit but never blob files: the files appends write are
``fdatasync``ed once at the commit's vote, so appended bytes are as durable as the record.
"""

from __future__ import annotations

import ctypes
import mmap
import os
import random
import sys
import tempfile
import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Any

import numpy as np
from BTrees.IOBTree import IOBTree
from persistent import Persistent
from ZODB.blob import Blob
from ZODB.POSException import ConflictError

from .abc import BigFile
from .budget import check_copy
from .errors import BigFileError

DEFAULT_BLKSIZE = 2 * 1024**2
#: Largest blob file written for consecutive blocks of one transaction (an extent).
MAX_EXTENT = 64 * 1024**2
#: Tail runs from which a transaction's first append folds the tail into the block table
#: with probability FOLD_CHANCE (so concurrent appenders rarely fold at once: two folds
#: do conflict), and from which it always does.
FOLD_FROM, FOLD_ALWAYS, FOLD_CHANCE = 64, 256, 1 / 32
_MISSING = object()

def as_bytes_view(data) -> memoryview:
    """A flat byte view of any buffer (bytes, memoryview, contiguous or not ndarray)."""
    if isinstance(data, np.ndarray):
        if not (data.flags.c_contiguous or data.flags.f_contiguous):
            data = np.ascontiguousarray(data)
        # as bytes: the buffer protocol has no format for datetime64 and timedelta64
        return memoryview(data.reshape(-1, order="A").view(np.uint8))
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


def _linux_call(name: str, *argtypes: Any) -> Any:
    """The C library's ``name`` (returning int, errno kept), or None where it is missing
    (not Linux, an exotic libc): callers then skip what it only speeds up."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        function = getattr(ctypes.CDLL(None, use_errno=True), name)
    except (OSError, AttributeError):  # pragma: no cover - exotic libc
        return None
    function.restype = ctypes.c_int
    function.argtypes = list(argtypes)
    return function


_FALLOC_FL_KEEP_SIZE = 0x01
_fallocate = _linux_call("fallocate", ctypes.c_int, ctypes.c_int, ctypes.c_long, ctypes.c_long)
_SYNC_FILE_RANGE_WRITE = 0x02
_sync_file_range = _linux_call(
    "sync_file_range", ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint)


def _start_writeback(fd: int, offset: int, length: int) -> None:
    """Ask the kernel to start writing these bytes to disk now (a hint, never waited for),
    so the commit's ``fdatasync`` finds them mostly written."""
    if _sync_file_range is not None and length:
        _sync_file_range(fd, offset, length, _SYNC_FILE_RANGE_WRITE)


class _DurableAppends:
    """Makes the blob files a transaction appended to durable before its vote ends.

    ZODB fsyncs Data.fs at commit but never blob files, so an append answered as
    committed could lose its bytes in a crash. This resource manager keeps one descriptor
    per appended file and ``fdatasync``s each once: started in a thread at ``tpc_begin``
    (so it overlaps the storage's stores and vote round trip), waited for at its vote,
    sorted last. Every vote ends before any ``tpc_finish`` (where the storage fsyncs
    Data.fs), so a record never names a blob whose bytes are not on disk.
    """

    def __init__(self) -> None:
        self.fds: dict[tuple[int, int], int] = {}
        self.syncing: Future | None = None

    def add(self, fd: int) -> None:
        """Own ``fd`` until the transaction ends (closed at once for a file already kept);
        once the commit's sync has started, sync it at once instead."""
        if self.syncing is not None:
            _sync_now(fd)
            return
        stat = os.fstat(fd)
        key = (stat.st_dev, stat.st_ino)
        if key in self.fds:
            os.close(fd)
        else:
            self.fds[key] = fd

    def _sync(self) -> None:
        for fd in self.fds.values():
            os.fdatasync(fd)

    def _close(self, *args) -> None:
        syncing, self.syncing = self.syncing, None
        if syncing is not None:
            wait([syncing])  # its descriptors stay open until it is done
        fds, self.fds = self.fds, {}
        for fd in fds.values():
            os.close(fd)

    abort = tpc_abort = tpc_finish = _close

    def sortKey(self) -> str:  # noqa: N802  (transaction's interface)
        return "~~wendelin-durable-appends"

    def tpc_begin(self, txn) -> None:
        if self.fds:
            self.syncing = _sync_pool().submit(self._sync)

    def commit(self, txn) -> None:
        pass

    def tpc_vote(self, txn) -> None:
        if self.syncing is not None:
            self.syncing.result()  # a failed sync fails the vote: nothing is committed

    def savepoint(self) -> _NoData:
        """Rolling back keeps the descriptors: syncing a file no longer used is harmless."""
        return _NoData()


_pool: tuple[int, ThreadPoolExecutor] | None = None
_pool_guard = threading.Lock()


def _sync_pool() -> ThreadPoolExecutor:
    """This process's threads for commit-time syncs (a forked child makes its own)."""
    global _pool
    with _pool_guard:
        if _pool is None or _pool[0] != os.getpid():
            _pool = (os.getpid(), ThreadPoolExecutor(4, thread_name_prefix="wendelin-fdatasync"))
        return _pool[1]


class _NoData:
    """The savepoint of :class:`_DurableAppends` (nothing to restore)."""

    def rollback(self) -> None:
        pass


_DURABLE = object()  # the key of a transaction's _DurableAppends (Transaction.data)


def _keep_durable(jar, fd: int) -> None:
    """Hand ``fd`` (a blob file just appended to) to the current transaction of ``jar``
    for its ``fdatasync`` at vote. Without a database there is no commit to make durable;
    a ZEO client with its own blob cache sends the bytes to the server, which stores
    them in a file of its own, so syncing the cache's copy would buy nothing."""
    if jar is None or getattr(jar.db().storage, "shared_blob_dir", True) is False:
        os.close(fd)
        return
    txn = jar.transaction_manager.get()
    try:
        known = txn.data(_DURABLE)
    except KeyError:
        known = _DurableAppends()
        try:
            txn.join(known)
        except ValueError:  # appended while the transaction commits: too late to join
            _sync_now(fd)
            return
        except BaseException:
            os.close(fd)
            raise
        txn.set_data(_DURABLE, known)
    known.add(fd)


def _sync_now(fd: int) -> None:
    """``fdatasync`` and close ``fd`` (an append made after its commit's sync began)."""
    try:
        os.fdatasync(fd)
    finally:
        os.close(fd)


def _preallocate(fd: int, offset: int, length: int) -> None:
    """Reserve disk blocks before a large write, as ``numpy.tofile`` does (faster writes).

    Keeps the file size; a file system without ``fallocate`` just skips it.
    """
    if _fallocate is not None and length >= 1 << 20:
        _fallocate(fd, _FALLOC_FL_KEEP_SIZE, offset, length)


def reserve(fd: int, length: int) -> bool:
    """Allocate ``length`` bytes of disk for the file and set its size; False when the
    file system cannot (a write fault into a shared mapping must never meet a full disk)."""
    if _fallocate is None or _fallocate(fd, 0, 0, length) != 0:
        return False
    return True


def _unpack(entry: Blob | tuple[Blob, int]) -> tuple[Blob, int]:
    """``(blob, slot)`` of a block entry; a bare blob (a single-block file) is slot 0."""
    return (entry, 0) if isinstance(entry, Blob) else entry


def _uncommitted_path(blob: Blob) -> str | None:
    """The working file of a blob this transaction wrote (writable in place), else None.

    Committed and savepoint files are immutable; only this file may change in place.
    Reading ``_p_`` attributes never unghosts, and a ghost is never uncommitted.
    """
    return blob._p_blob_uncommitted


def _blob_file(blob: Blob) -> tuple[str, int]:
    """``(path, length)`` of the file holding a blob's current bytes."""
    with blob.open("r") as stream:
        name = stream.name
        length = os.fstat(stream.fileno()).st_size
    blob._p_deactivate()
    return name, length


#: ``madvise(2)`` advice: map the range's pages now, reading them if needed (Linux 5.14).
_MADV_POPULATE_READ = 22
_madvise = _linux_call("madvise", ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)
#: Bytes handed to one ``pwrite`` of a large write (its source mapped first).
_WRITE_PIECE = 8 << 20


def _map_source(view: memoryview) -> None:
    """Map the pages of a write's source before ``pwrite`` copies them. A source that is
    itself a file mapping not yet touched (``A[:] = numpy.load(..., mmap_mode='r')``)
    makes the kernel's copy stop at each missing page and go on page by page, which
    leaves the new file in 4 KiB page-cache pages: mapped reads of it were 2x slower
    than of a file written from memory. A hint: any failure is ignored."""
    if _madvise is None or len(view) < 1 << 20:
        return
    address = np.frombuffer(view, np.uint8).__array_interface__["data"][0]
    start = address - address % mmap.PAGESIZE
    _madvise(start, len(view) + address - start, _MADV_POPULATE_READ)


def _pwrite_all(fd: int, view: memoryview, offset: int) -> None:
    while len(view):
        piece = view[:_WRITE_PIECE]
        _map_source(piece)
        written = os.pwrite(fd, piece, offset)
        view, offset = view[written:], offset + written


def _pread_into(fd: int, view: memoryview, offset: int) -> int:
    """Fill ``view`` from ``offset``; return how many bytes the file had."""
    got = 0
    while got < len(view):
        n = os.preadv(fd, [view[got:]], offset + got)
        if n == 0:
            break
        got += n
    return got


class _Files:
    """File descriptors opened during one call, closed at its end."""

    def __init__(self, flags: int) -> None:
        self.flags = flags
        self.fds: dict[str, int] = {}

    def __call__(self, path: str) -> int:
        fd = self.fds.get(path)
        if fd is None:
            fd = self.fds[path] = os.open(path, self.flags)
        return fd

    def __enter__(self) -> _Files:
        return self

    def __exit__(self, *exc) -> None:
        for fd in self.fds.values():
            os.close(fd)


def _same_key(value):
    """A hashable stand-in of a state value (persistent references by oid)."""
    oid = getattr(value, "oid", None)
    if oid is not None and type(value).__name__ == "PersistentReference":
        return ("ref", oid)
    if isinstance(value, (list, tuple)):
        return tuple(_same_key(item) for item in value)
    try:
        hash(value)
    except TypeError:
        return ("repr", repr(value))
    return value


def _run_key(run: tuple) -> tuple:
    return _same_key(run)


class ZBigFile(Persistent, BigFile):
    """A byte file of ``blksize`` blocks kept in an ``IOBTree`` of blob extents, then a
    tail of appended runs (see the module's docstring)."""

    #: Runs ``(blob, start written for, length)`` after the block table's bytes.
    _tail: tuple = ()
    #: Bumped by writes that change the partial last block (never merged with appends).
    _gen = 0

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
    def _extent_blocks(self) -> int:
        return max(1, MAX_EXTENT // self.blksize)

    def block_files(self, first: int, last: int) -> Iterator[tuple[int, str, int, int]]:
        """``(index, path, offset in file, length)`` of the stored blocks in ``[first, last]``.

        The path is the blob's committed file, or its uncommitted file when this
        transaction wrote the block; committed blob files are never modified. Each
        extent's file is looked up once.
        """
        if self._tail:
            return self._tail_block_files(first, last)
        return self._table_block_files(first, last)

    def _table_block_files(self, first: int, last: int) -> Iterator[tuple[int, str, int, int]]:
        """:meth:`block_files` of the block table alone."""
        blksize = self.blksize
        files: dict[int, tuple[Blob, str, int]] = {}
        for index, entry in self._blocks.items(first, last):
            blob, slot = _unpack(entry)
            known = files.get(id(blob))
            if known is None:
                known = files[id(blob)] = (blob, *_blob_file(blob))
            _, path, file_length = known
            length = min(blksize, file_length - slot * blksize)
            if length > 0:
                yield index, path, slot * blksize, length

    # -- the tail of appended runs -------------------------------------------------------
    def _fixed_size(self) -> int:
        """Bytes held by the block table (the tail's runs follow them)."""
        return self._size - sum(run[2] for run in self._tail)

    def mappable(self) -> bool:
        """True when every block can be mapped from a blob file at a block boundary
        (false only after concurrent appends merged, until the tail is folded)."""
        pos = self._fixed_size()
        for _, start, length in self._tail:
            if start != pos:
                return False
            pos += length
        return True

    def _tail_block_files(self, first: int, last: int) -> Iterator[tuple[int, str, int, int]]:
        """:meth:`block_files` of a file with a tail: the table's blocks, then each
        aligned run's blocks (a run's first block replaces the table's partial one)."""
        blksize = self.blksize
        fixed = self._fixed_size()
        tail = self._tail
        if fixed:
            for item in self._table_block_files(first, last):
                if item[0] * blksize < fixed - fixed % blksize or tail[0][1] != fixed:
                    yield item
        pos = fixed
        for blob, start, length in tail:
            if start != pos:
                raise BigFileError("concurrent appends not folded yet: read, do not map")
            base = start // blksize
            path = _blob_file(blob)[0]
            for index in range(max(first, base), min(last, (start + length - 1) // blksize) + 1):
                slot = index - base
                stored = min(blksize, start % blksize + length - slot * blksize)
                yield index, path, slot * blksize, stored
            pos += length

    def _append_tail(self, view: memoryview) -> None:
        """Append ``view`` as runs of the tail: extend this transaction's last run in
        place, else start a run in a new blob laid out in block coordinates (its head,
        the partial block before it, copied in the kernel). Each file written is kept for
        the commit's ``fdatasync``; its writeback starts at once."""
        blksize = self.blksize
        if self._tail:
            blob, start, length = self._tail[-1]
            path = _uncommitted_path(blob)
            at = start % blksize + length
            if path is not None and at < MAX_EXTENT:
                n = min(len(view), MAX_EXTENT - at)
                fd = os.open(path, os.O_WRONLY)
                try:
                    _preallocate(fd, at, n)
                    _pwrite_all(fd, view[:n], at)
                    _start_writeback(fd, at, n)
                except BaseException:
                    os.close(fd)
                    raise
                _keep_durable(self._p_jar, fd)
                self._tail = (*self._tail[:-1], (blob, start, length + n))
                self._size += n
                view = view[n:]
        while len(view):
            start = self._size
            lead = start % blksize
            n = min(len(view), MAX_EXTENT - lead)
            fd, path = tempfile.mkstemp(prefix="wendelin-", dir=self._temporary_directory())
            try:
                _preallocate(fd, 0, lead + n)
                if lead:
                    self._copy_into(fd, start - lead, lead)
                _pwrite_all(fd, view[:n], lead)
                _start_writeback(fd, 0, lead + n)
            except BaseException:
                os.close(fd)
                os.unlink(path)
                raise
            try:
                blob = self._adopt_file(path)
            except BaseException:
                os.close(fd)
                raise
            _keep_durable(self._p_jar, fd)
            self._tail = (*self._tail, (blob, start, n))
            self._size += n
            view = view[n:]

    def _copy_into(self, fd: int, start: int, length: int) -> None:
        """Copy the file's bytes ``[start, start + length)`` to offset 0 of ``fd`` without
        passing them through Python (``copy_file_range``; holes stay zeros)."""
        at = 0
        try:
            for path, offset, size in self.segments(start, start + length):
                if path is not None:
                    source = os.open(path, os.O_RDONLY)
                    try:
                        done = 0
                        while done < size:
                            copied = os.copy_file_range(source, fd, size - done, offset + done,
                                                        at + done)
                            if copied == 0:  # a shorter blob file: the rest reads as zeros
                                break
                            done += copied
                    finally:
                        os.close(source)
                at += size
        except OSError:  # no copy_file_range here (old kernel, other file systems)
            head = bytearray(length)
            self.readinto(start, head)
            _pwrite_all(fd, memoryview(head), 0)

    def _adopt_file(self, path: str) -> Blob:
        """A new blob of this file's connection whose file is ``path`` (moved in, not copied)."""
        blob = Blob()
        if self._p_jar is not None:
            self._p_jar.add(blob)  # its working file then lives in the storage's tmp dir
        blob.consumeFile(path)
        return blob

    def _fold(self) -> None:
        """Move the tail into the block table: aligned runs are adopted as they are,
        runs moved by a merge (their layout no longer matches) are copied."""
        tail = self._tail
        if not tail:
            return
        blksize = self.blksize
        pos = self._fixed_size()
        self._tail, self._size = (), pos
        for blob, start, length in tail:
            if start == pos:
                base = start // blksize
                for index in range(base, (start + length - 1) // blksize + 1):
                    self._blocks[index] = blob if index == base else (blob, index - base)
                self._size = start + length
            else:
                path = _blob_file(blob)[0]
                chunk = bytearray(min(length, 4 * 1024**2))
                done = 0
                with open(path, "rb") as source:
                    while done < length:
                        piece = memoryview(chunk)[: min(len(chunk), length - done)]
                        _pread_into(source.fileno(), piece, start % blksize + done)
                        self._write_fixed(pos + done, piece)
                        done += len(piece)
                self._keep_written_durable(pos, pos + length)
            pos += length

    def _keep_written_durable(self, start: int, end: int) -> None:
        """Keep the files this transaction wrote for blocks of ``[start, end)`` for the
        commit's ``fdatasync`` (a fold's copy of appended bytes is as durable as they were)."""
        seen: set[str] = set()
        blksize = self.blksize
        for _, entry in self._blocks.items(start // blksize, (end - 1) // blksize):
            path = _uncommitted_path(_unpack(entry)[0])
            if path is not None and path not in seen:
                seen.add(path)
                _keep_durable(self._p_jar, os.open(path, os.O_RDONLY))

    def _p_resolveConflict(self, old: dict, committed: dict, new: dict) -> dict:
        """Merge a transaction that only appended (``new``) with everything committed
        since it started, when that only appended too: its runs go after them.

        Non-appends bump ``_gen`` (never merged). ``committed`` may have folded; ``new``
        may have folded only the tail it read, and only if ``committed`` did not.
        """
        for key in (set(old) | set(committed) | set(new)) - {"_tail", "_size"}:
            values = [state.get(key, _MISSING) for state in (old, committed, new)]
            if len({_same_key(value) for value in values}) != 1:
                raise ConflictError("concurrent changes to a big file other than appends")
        old_tail = [_run_key(run) for run in old.get("_tail", ())]
        committed_tail = list(committed.get("_tail", ()))
        new_tail = list(new.get("_tail", ()))
        if committed["_size"] < old["_size"]:
            raise ConflictError("a big file shrank under concurrent appends")
        if [_run_key(run) for run in new_tail[: len(old_tail)]] == old_tail:
            added = new_tail[len(old_tail):]  # new did not fold
            if new["_size"] != old["_size"] + sum(run[2] for run in added):
                raise ConflictError("concurrent changes to a big file other than appends")
            tail = committed_tail + added
        elif [_run_key(run) for run in committed_tail[: len(old_tail)]] == old_tail:
            added = new_tail  # new folded exactly what it read, committed did not fold
            if new["_size"] - sum(run[2] for run in added) != old["_size"]:
                raise ConflictError("concurrent changes to a big file other than appends")
            tail = committed_tail[len(old_tail):] + added
        else:
            raise ConflictError("two transactions folded one big file's appends")
        merged = dict(committed)
        merged["_tail"] = tuple(tail)
        merged["_size"] = committed["_size"] + sum(run[2] for run in added)
        return merged

    def segments(self, start: int, end: int) -> list[tuple[str | None, int, int]]:
        """``(path, offset in file, length)`` pieces covering ``[start, end)``.

        A path of None is a hole (zeros). The paths are blob files, so the pieces can
        be read after the ZODB connection is closed, e.g. while a response is sent.
        """
        end = min(end, self._size)
        if end <= start:
            return []
        if not self._tail:
            return self._table_segments(start, end)
        fixed = self._fixed_size()
        pieces = self._table_segments(start, min(end, fixed)) if start < fixed else []
        pos = fixed
        for blob, written, length in self._tail:
            lo, hi = max(start, pos), min(end, pos + length)
            if lo < hi:
                path = _blob_file(blob)[0]
                at = written % self.blksize + lo - pos
                last = pieces[-1] if pieces else None
                if last and last[0] == path and last[1] + last[2] == at:
                    pieces[-1] = (path, last[1], last[2] + hi - lo)
                else:
                    pieces.append((path, at, hi - lo))
            pos += length
            if pos >= end:
                break
        return pieces

    def _table_segments(self, start: int, end: int) -> list[tuple[str | None, int, int]]:
        """:meth:`segments` of ``[start, end)`` within the block table."""
        if end <= start:
            return []
        blksize = self.blksize
        files = {
            index: (path, offset, length)
            for index, path, offset, length in self._table_block_files(
                start // blksize, (end - 1) // blksize
            )
        }
        pieces: list[tuple[str | None, int, int]] = []
        pos = start
        while pos < end:
            index, within = divmod(pos, blksize)
            take = min(blksize - within, end - pos)
            path, offset, length = files.get(index, (None, 0, 0))
            stored = max(0, min(take, length - within)) if path else 0
            if stored:
                last = pieces[-1] if pieces else None
                if last and last[0] == path and last[1] + last[2] == offset + within:
                    pieces[-1] = (path, last[1], last[2] + stored)  # contiguous in one extent
                else:
                    pieces.append((path, offset + within, stored))
            if take > stored:
                pieces.append((None, 0, take - stored))
            pos += take
        return pieces

    def readinto(self, offset: int, buffer) -> None:
        """Fill ``buffer`` with the bytes at ``offset`` (zeros for holes and past the end)."""
        view = memoryview(buffer).cast("B")
        if not len(view):
            return
        pos = 0
        with _Files(os.O_RDONLY) as files:
            for path, file_offset, length in self.segments(offset, offset + len(view)):
                piece = view[pos : pos + length]
                got = _pread_into(files(path), piece, file_offset) if path else 0
                if got < length:
                    piece[got:] = bytes(length - got)
                pos += length
        if pos < len(view):
            view[pos:] = bytes(len(view) - pos)

    # -- writing ----------------------------------------------------------------------
    def _temporary_directory(self) -> str:
        """Where new blob files are written: the storage's, so commit renames them."""
        jar = self._p_jar
        if jar is not None:
            return jar.db()._storage.temporaryDirectory()
        return tempfile.gettempdir()

    def _new_blob(self, view: memoryview, at: int = 0, head: memoryview | None = None) -> Blob:
        """A blob whose file holds ``view`` at ``at`` (zeros, or ``head``, before), moved
        in, not copied."""
        fd, path = tempfile.mkstemp(prefix="wendelin-", dir=self._temporary_directory())
        try:
            _preallocate(fd, 0 if head else at, len(view) + (at if head else 0))
            if head:
                _pwrite_all(fd, head, 0)
            _pwrite_all(fd, view, at)
        except BaseException:
            os.close(fd)
            os.unlink(path)
            raise
        os.close(fd)
        blob = Blob()
        if self._p_jar is not None:
            self._p_jar.add(blob)  # its working file then lives in the storage's tmp dir
        blob.consumeFile(path)
        return blob

    def _fresh(self, index: int, within: int, take: int) -> bool:
        """True when writing ``take`` bytes at ``within`` of block ``index`` replaces all it
        stores (no old bytes to keep), so the block can go to a new extent unread."""
        if within:
            return False
        entry = self._blocks.get(index)
        if entry is None or take == self.blksize:
            return True
        # Stored bytes never lie past the logical size, so covering up to it covers all.
        return index * self.blksize + take >= self._size

    def _write_extent(self, index: int, view: memoryview) -> int:
        """Write whole blocks from ``index`` into one extent; return the bytes written.

        The extent of the previous block is grown in place when this transaction
        created it and it ends exactly there; otherwise a new blob file is made.
        """
        blksize, cap = self.blksize, self._extent_blocks()
        previous = self._blocks.get(index - 1) if index else None
        if previous is not None:
            blob, slot = _unpack(previous)
            path = _uncommitted_path(blob)
            if (
                path is not None
                and slot + 1 < cap
                and os.stat(path).st_size == (slot + 1) * blksize
            ):
                n = min(len(view), (cap - slot - 1) * blksize)
                fd = os.open(path, os.O_WRONLY)
                try:
                    _preallocate(fd, (slot + 1) * blksize, n)
                    _pwrite_all(fd, view[:n], (slot + 1) * blksize)
                finally:
                    os.close(fd)
                for k in range(-(-n // blksize)):
                    self._blocks[index + k] = (blob, slot + 1 + k)
                return n
        n = min(len(view), cap * blksize)
        blob = self._new_blob(view[:n])
        self._blocks[index] = blob
        for k in range(1, -(-n // blksize)):
            self._blocks[index + k] = (blob, k)
        return n

    def _write_block(self, index: int, within: int, piece: memoryview, files: _Files) -> None:
        """Write ``piece`` inside block ``index``: in place if uncommitted, else copy on write."""
        blksize = self.blksize
        entry = self._blocks.get(index)
        if entry is not None:
            blob, slot = _unpack(entry)
            path = _uncommitted_path(blob)
            if path is not None:
                _pwrite_all(files(path), piece, slot * blksize + within)
                return
            stored = next(self.block_files(index, index), None)
            if stored is not None:
                _, old_path, old_offset, length = stored
                block = bytearray(max(length, within + len(piece)))
                with open(old_path, "rb") as old:
                    _pread_into(old.fileno(), memoryview(block)[:length], old_offset)
                block[within : within + len(piece)] = piece
                self._blocks[index] = self._new_blob(memoryview(block))
                return
        self._blocks[index] = self._new_blob(piece, at=within)

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
        self._fold()
        blksize = self.blksize
        if len(view) and offset + len(view) > self._size - self._size % blksize:
            # The partial last block changes: a concurrent append (which copied it into
            # its run) must not merge with this transaction.
            self._gen = self._gen + 1
        self._write_fixed(offset, view)

    def _write_fixed(self, offset: int, view: memoryview) -> None:
        """:meth:`write` into the block table (the tail is empty or being folded)."""
        blksize = self.blksize
        pos = 0
        with _Files(os.O_WRONLY) as files:
            while pos < len(view):
                index, within = divmod(offset + pos, blksize)
                take = min(blksize - within, len(view) - pos)
                entry = self._blocks.get(index)
                in_place = entry is not None and _uncommitted_path(_unpack(entry)[0]) is not None
                if not in_place and self._fresh(index, within, take):
                    # Whole blocks (or the tail past the end): a run into one extent.
                    run = take
                    while pos + run < len(view):
                        nxt = (offset + pos + run) // blksize
                        nxt_take = min(blksize, len(view) - pos - run)
                        nxt_entry = self._blocks.get(nxt)
                        if nxt_entry is not None and (
                            _uncommitted_path(_unpack(nxt_entry)[0]) is not None
                            or not self._fresh(nxt, 0, nxt_take)
                        ):
                            break
                        run += nxt_take
                    pos += self._write_extent(index, view[pos : pos + run])
                else:
                    self._write_block(index, within, view[pos : pos + take], files)
                    pos += take
        if offset + len(view) > self._size:
            self._size = offset + len(view)

    # -- extents written in place by live views (see live.Region.claim) -------------------
    def begin_rewrite(self, start: int, end: int) -> None:
        """Before ``[start, end)`` is rewritten through new extents: fold the tail and mark
        a change of the partial last block, as :meth:`write` does."""
        self._fold()
        blksize = self.blksize
        if end > start and end > self._size - self._size % blksize:
            self._gen = self._gen + 1

    def working_file(self) -> tuple[int, str]:
        """A new empty file (descriptor, path) where a blob of this transaction is made."""
        return tempfile.mkstemp(prefix="wendelin-", dir=self._temporary_directory())

    def adopt_extent(self, first: int, count: int, path: str) -> Blob:
        """Make the file at ``path`` (blocks ``[first, first + count)`` in block layout) a
        new blob holding those blocks; the file is moved in, not copied."""
        blob = Blob()
        if self._p_jar is not None:
            self._p_jar.add(blob)
        blob.consumeFile(path)
        self._blocks[first] = blob
        for k in range(1, count):
            self._blocks[first + k] = (blob, k)
        return blob

    def restore_block(self, index: int, entry) -> None:
        """Put back a block's table entry (None: the block was a hole)."""
        if entry is None:
            self._blocks.pop(index, None)
        else:
            self._blocks[index] = entry

    def append(self, data) -> int:
        """Append at the end; concurrent transactions' appends merge at commit."""
        offset = self._size
        view = as_bytes_view(data)
        if not len(view):
            return offset
        runs = len(self._tail)
        ours = runs and _uncommitted_path(self._tail[-1][0]) is not None
        if runs >= 2 * FOLD_ALWAYS or (not ours and (
            runs >= FOLD_ALWAYS or (runs >= FOLD_FROM and random.random() < FOLD_CHANCE)
        )):
            # Folding only at a transaction's first append keeps its own runs movable.
            self._fold()
        self._append_tail(view)
        return offset

    def append_file(self, path: str, length: int) -> int:
        """Append the ``length`` bytes of the file at ``path`` (exactly its size) as one
        run whose blob is that file: hard-linked into the storage, never copied (a copy
        only across file systems). The file itself is left in place. Returns the offset."""
        offset = self._size
        if os.stat(path).st_size != length:
            raise BigFileError(f"{path} does not hold {length} bytes")
        if not length:
            return offset
        fd, linked = tempfile.mkstemp(prefix="wendelin-", dir=self._temporary_directory())
        os.close(fd)
        os.unlink(linked)
        try:
            os.link(path, linked)
        except OSError:
            import shutil

            shutil.copyfile(path, linked)
        blob = Blob()
        if self._p_jar is not None:
            self._p_jar.add(blob)
        blob.consumeFile(linked)
        adopted = _uncommitted_path(blob)
        if adopted is not None:  # durable at the commit's vote, as appended bytes are
            fd = os.open(adopted, os.O_RDONLY)
            _start_writeback(fd, 0, length)
            _keep_durable(self._p_jar, fd)
        if self._tail and len(self._tail) >= FOLD_ALWAYS:
            self._fold()
        blksize = self.blksize
        # The file starts at the run's first byte: on a block boundary the run is
        # aligned; elsewhere it is laid out as a moved run (read, copied at the fold).
        written = offset - offset % blksize
        self._tail = (*self._tail, (blob, written, length))
        self._size += length
        return offset

    def truncate(self, n: int) -> None:
        n = _check_offset("size", n)
        if n != self._size or self._tail:
            self._gen = self._gen + 1  # never merged with concurrent appends
        if self._tail:
            if n <= self._fixed_size():
                self._size, self._tail = self._fixed_size(), ()
            else:
                self._fold()
        if n < self._size:
            blksize = self.blksize
            keep_blocks = -(-n // blksize)
            for index in list(self._blocks.keys(keep_blocks)):
                del self._blocks[index]
            if keep_blocks:
                last = keep_blocks - 1
                tail = n - last * blksize
                stored = next(self.block_files(last, last), None)
                if stored is not None and stored[3] > tail:
                    # A new blob, never a shrunk file: mapped views of the old one stay valid.
                    _, path, offset, _ = stored
                    kept = bytearray(tail)
                    with open(path, "rb") as old:
                        _pread_into(old.fileno(), memoryview(kept), offset)
                    self._blocks[last] = self._new_blob(memoryview(kept))
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

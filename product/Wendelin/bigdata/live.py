"""Live views: writable mappings of a ZBigFile that take part in ZODB transactions.

Each ZBigFile seen through views in a connection gets one :class:`Region`: an address
range reserved for the whole file (with room to grow) where every stored block's blob
file is mapped ``MAP_PRIVATE``. All views of the array are ndarrays over that one range,
so they share memory: a write through one view shows in every other view at once.

A page written through a view turns anonymous (copy on write); ``/proc/self/pagemap``
tells, without privileges, which pages are still file-backed. So:

- *flush* (``transaction.savepoint()``, commit, ``A[k] = v``): the blocks holding
  anonymous pages are written to the ZBigFile (new blob files, copy on write; blocks not
  touched keep theirs) and mapped again from those files, which frees their memory;
- *sync* (abort, savepoint rollback, every transaction boundary): the blocks that are
  dirty, or whose stored blob changed (this connection's abort, another connection's
  commit, ``A[k] = v``), are mapped again from the current files.

The hooks live on the connection (its class is swapped once for a subclass that adds
them, so they run in ZODB's own order): ``beforeCompletion`` flushes before a commit,
``savepoint`` flushes before ZODB snapshots the connection, ``abort``,
``afterCompletion`` and ``newTransaction`` sync after ZODB applied the abort or the
invalidations. A small data manager joins each transaction in which views are taken, so
that a savepoint flushes even if nothing else in the connection changed.

Written pages are found with the ``PAGEMAP_SCAN`` ioctl where the kernel has it
(Linux 6.7+; it also tells the shared zero page apart), else by reading pagemap entries.

*Claims* (``A[i:j] op= v``, an augmented assignment on a contiguous view): Python
guarantees the view it reads is written whole and stored back, so the blocks it spans
get new blob extents of this transaction at once, holding their current bytes and
mapped ``MAP_SHARED``: the in-place operation writes straight into the new blobs, with
no copy-on-write fault per 4 KiB page, no anonymous memory and nothing left to copy at
commit. The claim ends at the assignment (or the next flush or sync), when the blocks
are mapped private again; a claim whose assignment never came (the right-hand side
raised) gives back, at its end, the old entries of the blocks whose bytes did not change.

Limits (Linux only; elsewhere views are read-only copies): a page whose anonymous copy
is shared with a forked child looks clean to pagemap, so do not ``fork`` with
uncommitted writes in views; a view held across transactions and written in a later one
is flushed at that transaction's commit (or abort) and at savepoints once the connection
takes part in the transaction.
"""

from __future__ import annotations

import ctypes
import dis
import os
import sys
import weakref
from types import FrameType
from typing import Any

import numpy as np
import transaction as transaction_package
from ZODB.blob import Blob

from .bigfile import _pread_into, reserve
from .errors import BigDataError, OutOfCoreError
from .mapping import MAP_FAILED, MAP_FIXED, MAP_NORESERVE, MAP_PRIVATE, PAGESIZE, _libc

PROT_READ_WRITE = 0x1 | 0x2
MAP_SHARED = 0x01
MAP_ANONYMOUS = 0x20
#: Smallest view an augmented assignment claims (smaller ones copy on write cheaply).
CLAIM_MIN = 256 * 1024
MADV_NOHUGEPAGE = 15  # a huge page would make a one-byte write dirty 2 MiB

_PM_PRESENT = np.uint64(1 << 63)
_PM_SWAPPED = np.uint64(1 << 62)
_PM_FILE = np.uint64(1 << 61)
_PM_EXCLUSIVE = np.uint64(1 << 56)

if _libc is not None:
    _libc.madvise.restype = ctypes.c_int
    _libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]

_ABORT_CODE = transaction_package._transaction.Transaction.abort.__code__


def _mmap(address: int | None, length: int, flags: int, fd: int = -1, offset: int = 0) -> int:
    result = _libc.mmap(address, length, PROT_READ_WRITE, flags, fd, offset)
    if result in (None, MAP_FAILED):
        errno = ctypes.get_errno()
        if address is None:
            raise OutOfCoreError(
                f"cannot reserve {length} bytes of address space for the array's views: "
                f"{os.strerror(errno)}"
            )
        raise BigDataError(f"cannot map {length} bytes: {os.strerror(errno)}")
    return result


def _key(entry: Any) -> tuple[int, int]:
    """What a block's table entry stores: (blob identity, slot in its file)."""
    blob, slot = (entry, 0) if isinstance(entry, Blob) else entry
    oid = blob._p_oid
    return (oid if oid is not None else id(blob), slot)


def _runs(indices: list[int]) -> list[tuple[int, int]]:
    """``[first, last]`` runs of consecutive sorted block indices."""
    runs: list[tuple[int, int]] = []
    for index in indices:
        if runs and runs[-1][1] == index - 1:
            runs[-1] = (runs[-1][0], index)
        else:
            runs.append((index, index))
    return runs


# PAGEMAP_SCAN (Linux 6.7): the kernel lists the matching page ranges itself, so a
# terabyte-sized mapping with a few written pages is scanned in microseconds.
_PAGEMAP_SCAN = (3 << 30) | (96 << 16) | (ord("f") << 8) | 16
_PAGE_IS_FILE, _PAGE_IS_PRESENT, _PAGE_IS_SWAPPED, _PAGE_IS_PFNZERO = 1 << 2, 1 << 3, 1 << 4, 1 << 5
_scan_supported: bool | None = None
_CHUNK_PAGES = 1 << 17  # pagemap fallback: 1 MiB of entries per read


class _ScanArg(ctypes.Structure):
    _fields_ = [(name, ctypes.c_uint64) for name in (
        "size", "flags", "start", "end", "walk_end", "vec", "vec_len", "max_pages",
        "category_inverted", "category_mask", "category_anyof_mask", "return_mask")]


class _PageRegion(ctypes.Structure):
    _fields_ = [("start", ctypes.c_uint64), ("end", ctypes.c_uint64),
                ("categories", ctypes.c_uint64)]


def _scan(fd: int, start: int, end: int, mask: int, inverted: int) -> list[tuple[int, int]]:
    """Ranges of ``[start, end)`` whose pages match ``mask`` (bits in ``inverted`` clear)."""
    import fcntl

    found: list[tuple[int, int]] = []
    vec = (_PageRegion * 256)()
    while start < end:
        arg = _ScanArg(size=ctypes.sizeof(_ScanArg), start=start, end=end,
                       vec=ctypes.addressof(vec), vec_len=256, category_inverted=inverted,
                       category_mask=mask, return_mask=mask)
        count = fcntl.ioctl(fd, _PAGEMAP_SCAN, arg)
        found.extend((vec[i].start, vec[i].end) for i in range(count))
        if arg.walk_end <= start:
            break
        start = arg.walk_end
    return found


def _written_blocks(start: int, end: int, blksize: int) -> np.ndarray:
    """Indices (from ``start``, in ``blksize`` units) of the blocks of ``[start, end)``
    holding pages written since they were mapped: anonymous (copied on write) and not
    the shared zero page, or swapped out."""
    global _scan_supported
    with open("/proc/self/pagemap", "rb", buffering=0) as pagemap:
        fd = pagemap.fileno()
        if _scan_supported is not False:
            try:
                ranges = _scan(fd, start, end, _PAGE_IS_PRESENT | _PAGE_IS_FILE | _PAGE_IS_PFNZERO,
                               _PAGE_IS_FILE | _PAGE_IS_PFNZERO)
                ranges += _scan(fd, start, end, _PAGE_IS_SWAPPED, 0)
                _scan_supported = True
            except OSError:
                _scan_supported = False
            else:
                blocks: set[int] = set()
                for low, high in ranges:
                    blocks.update(range((low - start) // blksize,
                                        (high - 1 - start) // blksize + 1))
                return np.array(sorted(blocks), dtype=np.int64)
        # Whole blocks per read (about 1 MiB of entries), reduced per block by numpy.
        per_block = blksize // PAGESIZE
        step = max(1, _CHUNK_PAGES // per_block) * per_block
        entries = np.empty(step, dtype=np.uint64)
        found = []
        for chunk in range(start, end, step * PAGESIZE):
            npages = min(step, (end - chunk) // PAGESIZE)
            view = entries[:npages]
            got = os.preadv(fd, [view.data.cast("B")], chunk // PAGESIZE * 8)
            if got != npages * 8:
                raise BigDataError("cannot read /proc/self/pagemap")
            # Written: an anonymous page of our own (a hole only read is the shared zero
            # page, which is not exclusive), or one the kernel swapped out.
            written = ((view & (_PM_PRESENT | _PM_FILE | _PM_EXCLUSIVE)) == (
                _PM_PRESENT | _PM_EXCLUSIVE)) | ((view & _PM_SWAPPED) != 0)
            dirty = np.flatnonzero(written.reshape(-1, per_block).any(axis=1))
            found.append(dirty + (chunk - start) // blksize)
        return np.concatenate(found) if found else np.empty(0, dtype=np.int64)


# -- augmented assignments --------------------------------------------------------------
_INPLACE_OPS = frozenset(range(13, 26))  # BINARY_OP's NB_INPLACE_ADD .. NB_INPLACE_XOR
_augmented: dict[Any, frozenset[int]] = {}


def _augmented_reads(code) -> frozenset[int]:
    """Offsets in ``code`` of the subscript reads that load the target of an augmented
    assignment ``x[k] op= v`` (``COPY 2; COPY 2; BINARY_SUBSCR``, then the first in-place
    ``BINARY_OP`` followed by ``SWAP 3; SWAP 2; STORE_SUBSCR``; an expression holds none)."""
    found = _augmented.get(code)
    if found is not None:
        return found
    ops = [(i.opname, i.arg, i.offset) for i in dis.get_instructions(code)]
    offsets: set[int] = set()
    for k in range(2, len(ops)):
        if ops[k][0] != "BINARY_SUBSCR" or ops[k - 1][:2] != ("COPY", 2) or (
                ops[k - 2][:2] != ("COPY", 2)):
            continue
        for m in range(k + 1, len(ops) - 3):
            if ops[m][0] == "BINARY_OP" and ops[m][1] in _INPLACE_OPS:
                if [op[:2] for op in ops[m + 1 : m + 4]] == [
                        ("SWAP", 3), ("SWAP", 2), ("STORE_SUBSCR", None)]:
                    # A specialised read reports its last inline cache entry as f_lasti.
                    offsets.update(range(ops[k][2], ops[k + 1][2], 2))
                break
    if len(_augmented) > 4096:
        _augmented.clear()
    found = _augmented[code] = frozenset(offsets)
    return found


def in_augmented_assignment(frame: FrameType | None) -> bool:
    """True when ``frame`` is reading the target of an augmented subscript assignment
    (so what it reads is written whole, then stored back, by the same statement)."""
    if frame is None:
        return False
    try:
        return frame.f_lasti in _augmented_reads(frame.f_code)
    except Exception:  # an interpreter whose bytecode differs: no claim, still correct
        return False


class _Claim:
    """Blocks ``[first, last]`` mapped shared from new extents (see the module docstring)."""

    def __init__(self, first: int, last: int, old: dict[int, Any],
                 stored: dict[int, tuple[str, int, int]]) -> None:
        self.first, self.last = first, last
        self.old = old  # block -> its previous table entry (None: a hole)
        self.stored = stored  # block -> (path, offset, length) of its previous bytes
        self.finished = False


class ViewOwner:
    """Kept alive by every view's buffer; the region knows views exist while it lives."""

    def __init__(self, region: Region) -> None:
        self.region = region


def owner_of(array: np.ndarray) -> ViewOwner | None:
    """The :class:`ViewOwner` behind an ndarray's memory, if it is a live view."""
    base: Any = array
    while base is not None:
        owner = getattr(base, "_wendelin_owner", None)
        if owner is not None:
            return owner
        base = getattr(base, "base", None) if not isinstance(base, memoryview) else base.obj
    return None


class Region:
    """One address range holding every block of a ZBigFile, shared by all its views."""

    def __init__(self, bigfile, capacity: int) -> None:
        blksize = bigfile.blksize
        self.file = bigfile
        self.blksize = blksize
        self.length = -(-max(capacity, blksize) // blksize) * blksize
        self.address = _mmap(None, self.length, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE)
        _libc.madvise(self.address, self.length, MADV_NOHUGEPAGE)
        #: Block index -> key of the blob part mapped there (absent: anonymous zeros).
        self.keys: dict[int, tuple[int, int]] = {}
        self.exposed = 0  # blocks [0, exposed) have been mapped and handed to views
        self.claims: list[_Claim] = []
        self._owner: weakref.ref[ViewOwner] | None = None

    def __del__(self) -> None:
        if getattr(self, "address", None):
            _libc.munmap(self.address, self.length)
            self.address = None  # type: ignore[assignment]  # unmapped: the region is going away

    # -- views --------------------------------------------------------------------------
    def has_views(self) -> bool:
        return self._owner is not None and self._owner() is not None

    def buffer(self, start: int, nbytes: int) -> memoryview:
        """A writable byte view of ``[start, start + nbytes)`` (mapping blocks as needed)."""
        end_block = -(-(start + nbytes) // self.blksize)
        if end_block > self.exposed:
            first = self.exposed
            self.exposed = end_block
            self._map(first, end_block - 1)
        owner = self._owner() if self._owner is not None else None
        if owner is None:
            owner = ViewOwner(self)
            self._owner = weakref.ref(owner)
        raw = (ctypes.c_char * nbytes).from_address(self.address + start)
        raw._wendelin_owner = owner  # type: ignore[attr-defined]  # views keep the owner alive
        return memoryview(raw).cast("B")

    # -- mapping ------------------------------------------------------------------------
    def remap(self, first: int = 0, last: int | None = None) -> None:
        """Map the exposed blocks in ``[first, last]`` afresh (after the file was written:
        a block written in place keeps its key but may have grown in its file)."""
        last = self.exposed - 1 if last is None else min(last, self.exposed - 1)
        self._map(first, last)

    def _map(self, first: int, last: int) -> None:
        """Map blocks ``[first, last]`` afresh from the file's current blobs (zeros elsewhere)."""
        blksize = self.blksize
        last = min(last, self.length // blksize - 1)
        if last < first:
            return
        _mmap(
            self.address + first * blksize, (last - first + 1) * blksize,
            MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED,
        )
        if last - first < len(self.keys):
            for index in range(first, last + 1):
                self.keys.pop(index, None)
        else:
            for index in [i for i in self.keys if first <= i <= last]:
                del self.keys[index]
        for index, entry in self.file._blocks.items(first, last):
            self.keys[index] = _key(entry)
        run = None  # [block, path, file offset, length]
        for index, path, offset, length in self.file.block_files(first, last):
            if (
                run is not None and run[1] == path and run[0] * blksize + run[3] == index * blksize
                and run[2] + run[3] == offset and run[3] % blksize == 0
            ):
                run[3] += length
                continue
            if run is not None:
                self._map_file(*run)
            run = [index, path, offset, length]
        if run is not None:
            self._map_file(*run)

    def _map_file(self, block: int, path: str, offset: int, length: int) -> None:
        pages = -(-length // PAGESIZE) * PAGESIZE
        fd = os.open(path, os.O_RDONLY)
        try:
            _mmap(
                self.address + block * self.blksize, pages,
                MAP_PRIVATE | MAP_FIXED | MAP_NORESERVE, fd, offset,
            )
        finally:
            os.close(fd)

    def dirty_blocks(self, first: int = 0, last: int | None = None) -> list[int]:
        """Blocks in ``[first, last]`` with a page written since it was mapped."""
        last = self.exposed - 1 if last is None else min(last, self.exposed - 1)
        if last < first:
            return []
        start = self.address + first * self.blksize
        end = self.address + (last + 1) * self.blksize
        return (_written_blocks(start, end, self.blksize) + first).tolist()

    # -- claims -------------------------------------------------------------------------
    def claim(self, start: int, nbytes: int) -> None:
        """Before an in-place operation that writes every byte of ``[start, start +
        nbytes)``: give the blocks it spans new extents holding their bytes, mapped shared."""
        blksize, bigfile = self.blksize, self.file
        first = start // blksize
        last = min((start + nbytes - 1) // blksize, self.exposed - 1)
        end = min((last + 1) * blksize, bigfile.size)
        if last < first or end <= first * blksize:
            return
        self.flush(first, last)  # earlier writes of these blocks reach the file first
        bigfile.begin_rewrite(first * blksize, end)
        cap = bigfile._extent_blocks()
        for low in range(first, last + 1, cap):
            high = min(low + cap - 1, last)
            lo, hi = low * blksize, min((high + 1) * blksize, end)
            if hi > lo:
                self._claim_extent(low, high, lo, hi)

    def _claim_extent(self, low: int, high: int, lo: int, hi: int) -> None:
        """Claim blocks ``[low, high]`` (bytes ``[lo, hi)``) as one new extent."""
        bigfile = self.file
        old = {index: bigfile._blocks.get(index) for index in range(low, high + 1)}
        stored = {index: (path, offset, length)
                  for index, path, offset, length in bigfile.block_files(low, high)}
        pieces = bigfile.segments(lo, hi)
        fd, path = bigfile.working_file()
        if not reserve(fd, hi - lo):
            os.close(fd)
            os.unlink(path)
            return  # no disk to reserve: these blocks copy on write as usual
        try:
            _mmap(self.address + lo, hi - lo, MAP_SHARED | MAP_FIXED, fd, 0)
            inode = os.fstat(fd).st_ino
            at = self.address + lo
            for piece_path, offset, length in pieces:
                if piece_path is not None:  # holes stay zeros in the new (reserved) file
                    raw = (ctypes.c_char * length).from_address(at)
                    source = os.open(piece_path, os.O_RDONLY)
                    try:
                        _pread_into(source, memoryview(raw).cast("B"), offset)
                    finally:
                        os.close(source)
                at += length
        except BaseException:
            os.close(fd)
            os.unlink(path)
            self._map(low, high)
            raise
        os.close(fd)
        blob = bigfile.adopt_extent(low, high - low + 1, path)
        key_blob = blob._p_oid if blob._p_oid is not None else id(blob)
        for index in range(low, high + 1):
            self.keys[index] = (key_blob, index - low)
        moved = blob._p_blob_uncommitted
        if moved is None or os.stat(moved).st_ino != inode:
            self._map(low, high)  # the file was copied, not moved: writes must not go astray
            return
        self.claims.append(_Claim(low, high, old, stored))

    def finish_claims(self, first: int, last: int) -> None:
        """The assignment of the in-place operation came: its claimed blocks were written."""
        for claim in self.claims:
            if claim.first <= last and claim.last >= first:
                claim.finished = True

    def _end_claims(self, first: int, last: int) -> None:
        """End the claims meeting ``[first, last]``: map their blocks private again; an
        unfinished claim first gives back the old entries of blocks that did not change."""
        ending = [c for c in self.claims if c.first <= last and c.last >= first]
        if not ending:
            return
        self.claims = [c for c in self.claims if c not in ending]
        for claim in ending:
            if not claim.finished:
                for index in range(claim.first, claim.last + 1):
                    if self._unchanged(index, claim.stored.get(index)):
                        self.file.restore_block(index, claim.old[index])
                        self.keys.pop(index, None)
            self._map(claim.first, claim.last)

    def _unchanged(self, index: int, stored: tuple[str, int, int] | None) -> bool:
        """True when block ``index`` of the mapping holds the bytes ``stored`` held."""
        blksize = self.blksize
        length = max(0, min(blksize, self.file.size - index * blksize))
        now = np.frombuffer((ctypes.c_char * length).from_address(
            self.address + index * blksize), dtype=np.uint8)
        before = np.zeros(length, dtype=np.uint8)
        if stored is not None:
            path, offset, size = stored
            fd = os.open(path, os.O_RDONLY)
            try:
                _pread_into(fd, before[: min(size, length)].data.cast("B"), offset)
            finally:
                os.close(fd)
        return bool(np.array_equal(now, before))

    # -- transactions -------------------------------------------------------------------
    def flush(self, first: int = 0, last: int | None = None) -> int:
        """Write the dirty blocks in ``[first, last]`` to the file and map them from it;
        return the bytes written."""
        self._end_claims(first, self.exposed - 1 if last is None else last)
        size = self.file.size
        written = 0
        for run_first, run_last in _runs(self.dirty_blocks(first, last)):
            start = run_first * self.blksize
            end = min((run_last + 1) * self.blksize, size)
            if end > start:
                raw = (ctypes.c_char * (end - start)).from_address(self.address + start)
                self.file.write(start, memoryview(raw).cast("B"))
                written += end - start
            self._map(run_first, run_last)
        return written

    def sync(self, first: int = 0, last: int | None = None) -> None:
        """Map again the blocks in ``[first, last]`` that are dirty or whose blob changed."""
        last = self.exposed - 1 if last is None else min(last, self.exposed - 1)
        if last < first:
            return
        nblocks = -(-self.file.size // self.blksize)
        current = {
            index: _key(entry)
            for index, entry in self.file._blocks.items(first, min(last, nblocks - 1))
        } if nblocks > first else {}
        stale = set(self.dirty_blocks(first, last))
        for claim in self.claims:  # after an abort or a rollback: their entries are gone
            stale.update(range(claim.first, claim.last + 1))
        self.claims = []
        for index in set(current) | {i for i in self.keys if first <= i <= last}:
            if current.get(index) != self.keys.get(index):
                stale.add(index)
        for run_first, run_last in _runs(sorted(stale)):
            self._map(run_first, run_last)


# -- connection integration -------------------------------------------------------------
class LiveState:
    """The live regions of one ZODB connection, and the hooks that keep them right."""

    def __init__(self, connection) -> None:
        self.connection = connection
        self.regions: dict[Any, Region] = {}  # file oid -> current region
        self.retired: list[weakref.ref[Region]] = []  # outgrown regions views still use
        self._joined: weakref.ref | None = None

    def all_regions(self) -> list[Region]:
        alive = [r for r in (ref() for ref in self.retired) if r is not None]
        self.retired = [weakref.ref(r) for r in alive if r.has_views()]
        return [*self.regions.values(), *alive]

    def region(self, bigfile, nbytes: int) -> Region:
        """The region of ``bigfile``, able to show its first ``nbytes``; joins the txn."""
        region = self.regions.get(bigfile._p_oid)
        if region is None or region.length < nbytes:
            if region is not None:
                region.flush()
                if region.has_views():
                    self.retired.append(weakref.ref(region))
            try:  # room to grow: appends keep the same region, so old views follow
                region = Region(bigfile, 2 * nbytes + 64 * 1024**2)
            except OutOfCoreError:
                region = Region(bigfile, nbytes)
            self.regions[bigfile._p_oid] = region
        self.join()
        return region

    def join(self) -> None:
        try:
            txn = self.connection.transaction_manager.get()
        except Exception:  # an explicit manager outside a transaction
            return
        if self._joined is not None and self._joined() is txn:
            return
        txn.join(_ViewsDataManager(self))
        self._joined = weakref.ref(txn)

    def flush_all(self) -> int:
        return sum(region.flush() for region in self.all_regions())

    def sync_all(self) -> None:
        if self.connection.opened is None:
            return
        for region in self.all_regions():
            region.sync()
        for oid, region in list(self.regions.items()):
            if not region.has_views() and not region.dirty_blocks():
                del self.regions[oid]  # unmapped when the last reference goes


def _aborting(txn) -> bool:
    """True when ``beforeCompletion`` runs for an abort (no flush needed then)."""
    frame: FrameType | None = sys._getframe(2)
    for _ in range(8):
        if frame is None:
            return False
        if frame.f_code is _ABORT_CODE and frame.f_locals.get("self") is txn:
            return True
        frame = frame.f_back
    return False


class _SyncingSavepoint:
    """A savepoint whose rollback also brings the live views back to its state."""

    def __init__(self, state: LiveState, inner=None) -> None:
        self.state = state
        self.inner = inner

    def rollback(self) -> None:
        if self.inner is not None:
            self.inner.rollback()
        self.state.sync_all()


class _ViewsDataManager:
    """Joins a transaction in which views were taken: savepoints flush them."""

    transaction_manager = None

    def __init__(self, state: LiveState) -> None:
        self.state = state
        self.transaction_manager = state.connection.transaction_manager

    def has_changes(self) -> bool:
        """None of its own: written pages reach the database as the connection's changes
        when they are flushed (savepoint, commit); the HTTP edge asks this of GETs."""
        return False

    def abort(self, txn) -> None:
        self.state.sync_all()

    def savepoint(self):
        if self.state.flush_all():
            # The connection may have joined only now, after the transaction listed the
            # savepoint's data managers: snapshot it here so a rollback undoes the flush.
            return _SyncingSavepoint(self.state, self.state.connection.savepoint())
        return _SyncingSavepoint(self.state)

    def tpc_begin(self, txn) -> None:
        pass

    def commit(self, txn) -> None:
        pass

    def tpc_vote(self, txn) -> None:
        pass

    def tpc_finish(self, txn) -> None:
        pass

    def tpc_abort(self, txn) -> None:
        pass

    def sortKey(self) -> str:
        return f"~wendelin-live-views:{id(self)}"


_classes: dict[type, type] = {}


def _live_connection_class(base: type) -> type:
    cls = _classes.get(base)
    if cls is not None:
        return cls

    class LiveConnection(base):
        """A ZODB connection whose transaction steps also flush and sync live views."""

        def beforeCompletion(self, txn):
            state = self.__dict__.get("_wendelin_live")
            if state is not None and not _aborting(txn):
                state.flush_all()
            return super().beforeCompletion(txn)

        def afterCompletion(self, txn):
            result = super().afterCompletion(txn)
            state = self.__dict__.get("_wendelin_live")
            if state is not None and self.explicit_transactions:
                state.sync_all()  # otherwise newTransaction just did
            return result

        def newTransaction(self, transaction, sync=True):
            result = super().newTransaction(transaction, sync)
            state = self.__dict__.get("_wendelin_live")
            if state is not None:
                state.sync_all()
            return result

        def savepoint(self):
            state = self.__dict__.get("_wendelin_live")
            if state is not None:
                state.flush_all()
            inner = super().savepoint()
            return inner if state is None else _SyncingSavepoint(state, inner)

        def abort(self, transaction):
            result = super().abort(transaction)
            state = self.__dict__.get("_wendelin_live")
            if state is not None:
                state.sync_all()
            return result

    LiveConnection.__name__ = f"Live{base.__name__}"
    _classes[base] = LiveConnection
    return LiveConnection


def live_state(connection) -> LiveState:
    """The :class:`LiveState` of a ZODB connection, installing its hooks on first use."""
    state = connection.__dict__.get("_wendelin_live")
    if state is None:
        state = connection.__dict__["_wendelin_live"] = LiveState(connection)
        connection.__class__ = _live_connection_class(type(connection))
    return state


def available() -> bool:
    """Live views need Linux's mmap and /proc/self/pagemap."""
    return _libc is not None and os.path.exists("/proc/self/pagemap")

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
guarantees the view it reads is written whole and stored back, so ``__getitem__`` returns
it as a :class:`ClaimedView` and numpy's in-place call ``ufunc(v, x, out=(v,))`` claims
the blocks it spans, fused with the operation: the ufunc reads ``v`` from a private
mapping of the old bytes and its output goes, by chunks of :data:`REWRITE_CHUNK`, into
new blob extents of this transaction (``pwrite``; the bytes of the first and last block
outside the view are copied from the old ones), which the region then maps: one pass, no
copy first, no copy-on-write fault, no anonymous memory, nothing left to copy at commit;
if the ufunc raises, nothing changed; an operand reading the claimed blocks reads them
unchanged (numpy's overlap rule). Order F views and generalised ufuncs write through new
extents mapped ``MAP_SHARED`` instead. When that path would hide the old bytes from an
operand, or an operand brings its own ``__array_ufunc__``, or for any other in-place
call, the claim fills the extents with the old bytes first (mapped shared until the
assignment, or the next flush or sync; a claim whose assignment never came gives back,
at its end, the old entries of the blocks whose bytes did not change). Every other use
of the view is that of a plain ndarray over still unchanged memory.

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


class _OldBytes:
    """A private mapping of the bytes ``[start, start + length)`` of a file as they were
    before a fused claim; unmapped when the last reference goes."""

    def __init__(self, start: int, length: int) -> None:
        self.start, self.length = start, length
        self.address = _mmap(None, length, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE)

    def __del__(self) -> None:
        if getattr(self, "address", None):
            _libc.munmap(self.address, self.length)
            self.address = 0

    def copy_to(self, base: int, begin: int, stop: int) -> None:
        """Copy file bytes ``[begin, stop)`` to ``base + begin``."""
        if stop > begin:
            ctypes.memmove(base + begin, self.address + begin - self.start, stop - begin)

    def bytes(self, begin: int, stop: int) -> memoryview:
        """File bytes ``[begin, stop)`` as they were."""
        raw = (ctypes.c_char * (stop - begin)).from_address(self.address + begin - self.start)
        raw._wendelin_old = self  # type: ignore[attr-defined]  # keeps the mapping alive
        return memoryview(raw).cast("B")

    def like(self, view: np.ndarray, start: int) -> np.ndarray:
        """A read-only ndarray shaped as ``view`` over the old bytes from file offset ``start``."""
        raw = (ctypes.c_char * self.length).from_address(self.address)
        raw._wendelin_old = self  # type: ignore[attr-defined]  # keeps the mapping alive
        result = np.ndarray(view.shape, view.dtype, memoryview(raw).cast("B"),
                            start - self.start, view.strides)
        result.flags.writeable = False
        return result


def _bounds(value: np.ndarray) -> tuple[int, int]:
    """``[low, high)`` addresses of the memory an ndarray spans."""
    low = high = value.ctypes.data
    for size, stride in zip(value.shape, value.strides, strict=True):
        if stride < 0:
            low += stride * (size - 1)
        else:
            high += stride * (size - 1)
    return low, high + value.itemsize


def _plain(value: Any) -> Any:
    """``value`` with a :class:`ClaimedView` seen as a plain ndarray (lists and tuples too)."""
    if isinstance(value, ClaimedView):
        return value.view(np.ndarray)
    if isinstance(value, (list, tuple)) and any(isinstance(v, ClaimedView) for v in value):
        return type(value)(_plain(v) for v in value)
    return value


class ClaimedView(np.ndarray):
    """The view an augmented assignment ``A[i:j] op= x`` reads (contiguous, its bytes
    still mapped private and unchanged).

    The in-place ufunc call numpy makes for it, ``ufunc(v, x, out=(v,))``, claims the
    blocks then (:meth:`Region.claim`, fused): it reads ``v`` from a private mapping of
    the old bytes and writes ``out`` into the new shared extents, one pass with no copy
    first, and returns a plain ndarray of the new bytes for the assignment to store.
    Every other use is that of a plain ndarray (the bytes were never moved), and the
    fast path is taken once at most, by the object ``__getitem__`` returned.
    """

    _wendelin_claim: tuple[Region, int, Any] | None = None

    def __array_finalize__(self, obj: Any) -> None:
        self._wendelin_claim = None  # slices, copies and reshapes are plain arrays

    def __array_function__(self, func, types, args, kwargs):
        self._wendelin_claim = None
        return func(*_plain(args), **{k: _plain(v) for k, v in kwargs.items()})

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        pending, self._wendelin_claim = self._wendelin_claim, None
        out = kwargs.get("out")
        if out is not None:
            kwargs["out"] = _plain(out)
        if pending is not None and method == "__call__" and out is not None and (
                len(out) == 1 and out[0] is self and ufunc.nout == 1):
            region, start, valid = pending
            if (any(x is self for x in inputs) and "where" not in kwargs and valid()
                    and not any(_overrides(x) for x in inputs if x is not self)
                    and start + self.nbytes <= region.file.size):
                touching = any(_touches(region, x, start, self.nbytes)
                               for x in inputs if x is not self)
                result = _fused(region, start, self, ufunc, inputs, kwargs, touching)
                if result is not None:
                    return result
            region.claim(start, self.nbytes)  # other in-place calls: the filled claim
        return getattr(ufunc, method)(*_plain(inputs), **kwargs)


def _overrides(value: Any) -> bool:
    """True when ``value`` brings its own ``__array_ufunc__`` (it might not write ``out``)."""
    override = getattr(type(value), "__array_ufunc__", np.ndarray.__array_ufunc__)
    return override is not np.ndarray.__array_ufunc__ and not isinstance(value, ClaimedView)


def _touches(region: Region, value: Any, start: int, nbytes: int) -> bool:
    """True when ``value`` (an operand) may read the blocks a claim of ``[start, start +
    nbytes)`` maps anew (anything not a number or an ndarray is made one to look)."""
    if isinstance(value, (int, float, complex, bool, np.generic)):
        return False
    try:
        array = value if isinstance(value, np.ndarray) else np.asarray(value)
    except Exception:
        return True
    if not array.size:
        return False
    blksize = region.blksize
    low = region.address + start // blksize * blksize
    high = region.address + -(-(start + nbytes) // blksize) * blksize
    a, b = _bounds(array)
    return a < high and b > low


#: Bytes of result computed per ``pwrite`` in the fused path (stays in the CPU's caches).
REWRITE_CHUNK = 4 * 1024**2


def _fused(region: Region, start: int, view: ClaimedView, ufunc, inputs, kwargs,
           touching: bool) -> np.ndarray | None:
    """Claim fused with the in-place ufunc: one pass reads the old bytes, writes the new.
    An operand ``touching`` the claimed blocks reads them from the region, unchanged
    until the end of a rewrite (numpy's rule for overlap: as if copied first); the shared
    path would hide them, so it is not taken then (None: not done)."""
    operands = [x if x is view or isinstance(x, (int, float, complex, bool, np.generic))
                else np.asarray(_plain(x)) for x in inputs]
    shapes = [x.shape for x in operands if x is not view and isinstance(x, np.ndarray)]
    try:
        fits = np.broadcast_shapes(view.shape, *shapes) == view.shape
    except ValueError:
        fits = False  # the call below raises numpy's own error (and puts the bytes back)
    rowbytes = view.nbytes // view.shape[0]
    if (fits and ufunc.signature is None and view.flags.c_contiguous
            and rowbytes <= REWRITE_CHUNK):
        options = {k: v for k, v in kwargs.items() if k != "out"}
        if region.rewrite(start, view.nbytes, lambda old, write: _compute_rows(
                old.like(view, start), view, operands, ufunc, options, start, write)):
            return view.view(np.ndarray)
    if touching:
        return None
    return _fused_shared(region, start, view, ufunc, inputs, kwargs)


def _compute_rows(old: np.ndarray, view: np.ndarray, operands: list[Any], ufunc,
                  options: dict[str, Any], start: int, write) -> None:
    """Run ``ufunc`` over ``old`` (standing for ``view``) by major-axis chunks into one
    small buffer, handing each chunk's bytes to ``write``."""
    count = view.shape[0]
    rowbytes = view.nbytes // count
    rows = max(1, REWRITE_CHUNK // rowbytes)
    buffer = np.empty((min(rows, count), *view.shape[1:]), dtype=view.dtype)

    def part(x: Any, low: int, high: int) -> Any:
        if x is view:
            return old[low:high]
        if isinstance(x, np.ndarray) and x.ndim == view.ndim and x.shape[0] != 1:
            return x[low:high]
        return x  # broadcast over every chunk alike

    for low in range(0, count, rows):
        high = min(count, low + rows)
        out = buffer[: high - low]
        ufunc(*[part(x, low, high) for x in operands], out=(out,), **options)
        write(start + low * rowbytes, out.data.cast("B"))


def _fused_shared(region: Region, start: int, view: ClaimedView, ufunc, inputs,
                  kwargs) -> np.ndarray:
    """The fused claim for the other in-place calls (order F, generalised ufuncs): new
    extents mapped shared, holding only the bytes around the view, are the output."""
    old_bytes = region.claim(start, view.nbytes, fused=True)
    new = view.view(np.ndarray)
    kwargs["out"] = (new,)
    if old_bytes is None:
        return ufunc(*_plain(inputs), **kwargs)
    old = old_bytes.like(view, start)
    try:
        ufunc(*[old if x is view else _plain(x) for x in inputs], **kwargs)
    except BaseException:
        np.copyto(new, old, casting="unsafe")  # not written after all: the old bytes back
        raise
    return new


def claimed_view(result: np.ndarray, region: Region, start: int, valid) -> np.ndarray:
    """``result`` as the :class:`ClaimedView` of an augmented assignment; ``valid()`` says
    at the operation whether ``region`` still is the array's."""
    view = result.view(ClaimedView)
    view._wendelin_claim = (region, start, valid)
    return view


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
        self._map_blocks(self.address, first, last)

    def _map_blocks(self, base: int, first: int, last: int) -> None:
        """Map the stored blocks of ``[first, last]`` private, block ``k`` at ``base + k *
        blksize`` (holes stay as they are)."""
        blksize = self.blksize
        run = None  # [block, path, file offset, length]
        for index, path, offset, length in self.file.block_files(first, last):
            if (
                run is not None and run[1] == path and run[0] * blksize + run[3] == index * blksize
                and run[2] + run[3] == offset and run[3] % blksize == 0
            ):
                run[3] += length
                continue
            if run is not None:
                self._map_file(base, *run)
            run = [index, path, offset, length]
        if run is not None:
            self._map_file(base, *run)

    def _map_file(self, base: int, block: int, path: str, offset: int, length: int) -> None:
        pages = -(-length // PAGESIZE) * PAGESIZE
        fd = os.open(path, os.O_RDONLY)
        try:
            _mmap(
                base + block * self.blksize, pages,
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
    def claim(self, start: int, nbytes: int, fused: bool = False) -> _OldBytes | None:
        """Before an in-place operation that writes every byte of ``[start, start +
        nbytes)``: give the blocks it spans new extents, mapped shared, holding their bytes.

        ``fused``: the new extents get only the bytes outside ``[start, start + nbytes)``;
        the caller writes that range from the returned private mapping of the old bytes
        (one pass, see :class:`ClaimedView`), which stays mapped while it is referenced."""
        blksize, bigfile = self.blksize, self.file
        first = start // blksize
        last = min((start + nbytes - 1) // blksize, self.exposed - 1)
        end = min((last + 1) * blksize, bigfile.size)
        if last < first or end <= first * blksize:
            return None
        self.flush(first, last)  # earlier writes of these blocks reach the file first
        bigfile.begin_rewrite(first * blksize, end)
        old = None
        if fused:
            old = _OldBytes(first * blksize, (last - first + 1) * blksize)
            self._map_blocks(old.address - first * blksize, first, last)
        cap = bigfile._extent_blocks()
        for low in range(first, last + 1, cap):
            high = min(low + cap - 1, last)
            lo, hi = low * blksize, min((high + 1) * blksize, end)
            if hi > lo:
                self._claim_extent(low, high, lo, hi, old, (start, start + nbytes))
        return old

    def _claim_extent(self, low: int, high: int, lo: int, hi: int, old: _OldBytes | None,
                      written: tuple[int, int]) -> None:
        """Claim blocks ``[low, high]`` (bytes ``[lo, hi)``) as one new extent; with ``old``
        only the bytes outside ``written`` are copied (from ``old``)."""
        bigfile = self.file
        entries = {index: bigfile._blocks.get(index) for index in range(low, high + 1)}
        stored = {index: (path, offset, length)
                  for index, path, offset, length in bigfile.block_files(low, high)}
        pieces = bigfile.segments(lo, hi) if old is None else []
        fd, path = bigfile.working_file()
        if not reserve(fd, hi - lo):
            os.close(fd)
            os.unlink(path)
            return  # no disk to reserve: these blocks copy on write as usual
        try:
            _mmap(self.address + lo, hi - lo, MAP_SHARED | MAP_FIXED, fd, 0)
            inode = os.fstat(fd).st_ino
            if old is not None:
                for begin, stop in ((lo, min(hi, written[0])), (max(lo, written[1]), hi)):
                    if stop > begin:
                        old.copy_to(self.address, begin, stop)
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
            if old is not None:  # and the copy lacks the written range: put the old bytes
                old.copy_to(self.address, max(lo, written[0]), min(hi, written[1]))
            return
        self.claims.append(_Claim(low, high, entries, stored))

    def rewrite(self, start: int, nbytes: int, compute) -> bool:
        """Give the blocks spanning ``[start, start + nbytes)`` new extents written in one
        pass: ``compute(old, write)`` gets a private mapping of their old bytes and calls
        ``write(offset, data)`` for every byte of the range (in order); the bytes around it
        come from ``old``. Written with ``pwrite`` (no fault per page, no zeroed page
        first); if ``compute`` raises nothing changed. False: nothing to rewrite."""
        blksize, bigfile = self.blksize, self.file
        first = start // blksize
        last = min((start + nbytes - 1) // blksize, self.exposed - 1)
        end = min((last + 1) * blksize, bigfile.size)
        if last < first or end <= first * blksize or start + nbytes > end:
            return False
        self.flush(first, last)  # earlier writes of these blocks reach the file first
        bigfile.begin_rewrite(first * blksize, end)
        old = _OldBytes(first * blksize, (last - first + 1) * blksize)
        self._map_blocks(old.address - first * blksize, first, last)
        cap = bigfile._extent_blocks()
        extents: list[tuple[int, int, int, int, int, str]] = []

        def write(offset: int, data: memoryview) -> None:
            for _low, _high, lo, hi, fd, _path in extents:
                a, b = max(lo, offset), min(hi, offset + len(data))
                while b > a:
                    a += os.pwrite(fd, data[a - offset : b - offset], a - lo)

        try:
            for low in range(first, last + 1, cap):
                high = min(low + cap - 1, last)
                lo, hi = low * blksize, min((high + 1) * blksize, end)
                if hi > lo:
                    extents.append((low, high, lo, hi, *bigfile.working_file()))
            for begin, stop in ((first * blksize, start), (start + nbytes, end)):
                if stop > begin:
                    write(begin, old.bytes(begin, stop))
            compute(old, write)
        except BaseException:
            for *_, fd, path in extents:
                os.close(fd)
                os.unlink(path)
            raise
        for low, high, _lo, _hi, fd, path in extents:
            os.close(fd)
            bigfile.adopt_extent(low, high - low + 1, path)
        self._map(first, last)
        return True

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

"""ZBigArray: an n-dimensional numpy array stored in a ZBigFile, seen through live views.

``A[key]`` with a basic index returns a **writable** ``numpy.ndarray`` over one shared
mapping of the array's blob files (see :mod:`.live`), so nothing is read until numpy
touches it and every view of the array sees the same memory:

- writes through any view belong to the current transaction: a commit stores exactly
  the blocks that were written (the others keep their blob files), an abort brings
  every view back to the committed data, ``transaction.savepoint()`` writes the dirty
  blocks out and frees their memory, and rolling a savepoint back reverts the views;
- ``A[k] = v`` shows in every existing view at once;
- after another connection commits, views held here show its data from this
  connection's next transaction boundary (commit, abort or ``transaction.begin()``).

Views need a ZODB connection (the array attached and committed or added to one) and a
block size that is a multiple of the page size; otherwise they are read-only copies of
the stored bytes. Restricted Python (skin scripts) always gets read-only views.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from typing import Any, Literal

import numpy as np
from persistent import Persistent

from . import live
from .bigfile import DEFAULT_BLKSIZE, ZBigFile
from .budget import check_copy, get_memory_budget
from .errors import BigArrayError, BigArrayTypeError
from .mapping import can_map, map_range

#: Set by the Zope layer (``restricted_data.declare_restricted_access``): True when the
#: code asking for a view is restricted Python, which only ever gets read-only views.
restricted_caller: Callable[[], bool] | None = None
#: Set by the Zope layer too: turns a numpy value handed to restricted Python into what
#: scripts may use (a Wendelin-owned type; numpy's own types are not declared to them).
script_value: Callable[[Any], Any] | None = None


def _check_shape(shape: Any) -> tuple[int, ...]:
    if isinstance(shape, (int, np.integer)):
        shape = (shape,)
    if isinstance(shape, (str, bytes)):
        raise BigArrayError(f"shape must be a tuple of integers, got {shape!r}")
    try:
        shape = tuple(int(n) for n in shape)
    except (TypeError, ValueError):
        raise BigArrayError(f"shape must be a tuple of integers, got {shape!r}") from None
    if not shape:
        raise BigArrayError("a ZBigArray needs at least one dimension, got shape ()")
    if any(n < 0 for n in shape):
        raise BigArrayError(f"shape must not have negative dimensions, got {shape!r}")
    return shape


def check_dtype(dtype: Any) -> np.dtype:
    """``dtype`` as a numpy dtype of fixed-size items; a bad one names itself."""
    try:
        dtype = np.dtype(dtype)
    except TypeError:
        raise BigArrayTypeError(f"not a numpy dtype: {dtype!r}") from None
    if dtype.hasobject:
        raise BigArrayTypeError(
            f"dtype {dtype} holds Python objects; only fixed-size dtypes are stored"
        )
    if dtype.itemsize == 0:
        raise BigArrayError(f"dtype {dtype} has no size")
    return dtype


def _is_basic(component: Any) -> bool:
    return component is None or isinstance(component, (slice, int, np.integer)) and not isinstance(
        component, bool
    )


def _bounds(rows: range) -> tuple[int, int]:
    """``[lo, hi)`` covering every index of ``rows``, without iterating it."""
    if len(rows) == 0:
        return 0, 0
    return min(rows[0], rows[-1]), max(rows[0], rows[-1]) + 1


def _same_memory(a: np.ndarray, b: Any) -> bool:
    """True when ``a`` and ``b`` are the same items at the same addresses."""
    return (
        isinstance(b, np.ndarray) and a.shape == b.shape and a.strides == b.strides
        and a.dtype == b.dtype
        and a.__array_interface__["data"][0] == b.__array_interface__["data"][0]
    )


def _overlaps(value: np.ndarray, region: live.Region) -> bool:
    """True when ``value``'s memory lies (partly) in the region."""
    low, high = np.lib.array_utils.byte_bounds(value)
    return low < region.address + region.length and high > region.address


def _take_range(value: np.ndarray, axis: int, begin: int, end: int) -> np.ndarray:
    """``value[begin:end]`` along ``axis``, as a view."""
    return value[(slice(None),) * axis + (slice(begin, end),)]


class BlockIterator:
    """Iterator of :meth:`ZBigArray.iterblocks`: ``(start, stop, view)``, each block mapped
    when reached (a named type, so restricted Python can be allowed to iterate it)."""

    def __init__(self, array: ZBigArray) -> None:
        self._array = array
        self._n = array._shape[array._major]
        self._step = array.rows_per_block()
        self._start = 0

    def __iter__(self) -> BlockIterator:
        return self

    def __next__(self) -> tuple[int, int, np.ndarray]:
        start = self._start
        if start >= self._n:
            raise StopIteration
        stop = self._start = min(start + self._step, self._n)
        return start, stop, _readonly(self._array._view(start, stop))


def _as_records(value: Any, dtype: np.dtype) -> Any:
    """A tuple or list of tuples as records of ``dtype`` (numpy reads a tuple assigned to
    a structured array as one record); any other value unchanged."""
    if isinstance(value, tuple) or isinstance(value, list) and value and all(
            isinstance(item, tuple) for item in value):
        try:
            return np.array(value, dtype=dtype)
        except (TypeError, ValueError):
            return value  # reported by the assignment, with its shape
    return value


def _readonly(result: Any) -> Any:
    """``result`` as restricted Python gets it when it asked: a read-only view, handed over
    as :data:`script_value` makes it (trusted callers get ``result`` unchanged)."""
    if restricted_caller is None or not isinstance(result, (np.ndarray, np.generic, np.dtype)):
        return result
    if restricted_caller():
        if isinstance(result, np.ndarray) and result.flags.writeable:
            result = result.view()
            result.flags.writeable = False
        if script_value is not None:
            result = script_value(result)
    return result


class ZBigArray(Persistent):
    """A persistent array whose data lives in a :class:`ZBigFile`."""

    #: Pickles written before arrays had an order load as C-ordered arrays.
    _order: Literal["C", "F"] = "C"

    def __init__(
        self, shape: Any, dtype: Any, order: str = "C", blksize: int = DEFAULT_BLKSIZE
    ) -> None:
        if order not in ("C", "F"):
            raise BigArrayError(f"order must be 'C' or 'F', got {order!r}")
        self._shape = _check_shape(shape)
        self._dtype = check_dtype(dtype)
        self._order = "C" if order == "C" else "F"
        self._file = ZBigFile(blksize)
        self._file.truncate(self.nbytes)

    # -- numpy-like attributes ----------------------------------------------------------
    shape = property(lambda self: self._shape)
    dtype = property(lambda self: self._dtype)
    order = property(lambda self: self._order)
    ndim = property(lambda self: len(self._shape))
    size = property(lambda self: math.prod(self._shape))
    itemsize = property(lambda self: self._dtype.itemsize)
    nbytes = property(lambda self: self.size * self._dtype.itemsize)
    blksize = property(lambda self: self._file.blksize)

    def __len__(self) -> int:
        """Length of the major axis (the first for C order, the last for Fortran order)."""
        return self._shape[self._major]

    @property
    def strides(self) -> tuple[int, ...]:
        """Bytes between items along each axis, as for a contiguous ndarray of this order."""
        strides, step = [0] * self.ndim, self.itemsize
        axes = range(self.ndim - 1, -1, -1) if self._order == "C" else range(self.ndim)
        for axis in axes:
            strides[axis] = step
            step *= self._shape[axis]
        return tuple(strides)

    @property
    def data(self):
        """Refused, as in wendelin.core: the whole array is no single buffer in RAM."""
        raise TypeError("ZBigArray has no .data buffer; take a view: A[...]")

    @property
    def _major(self) -> int:
        return 0 if self._order == "C" else self.ndim - 1

    @property
    def _rowbytes(self) -> int:
        """Bytes of one index along the major axis (contiguous in the file)."""
        rest = self._shape[: self._major] + self._shape[self._major + 1 :]
        return math.prod(rest) * self.itemsize

    def _rows_shape(self, nrows: int) -> tuple[int, ...]:
        shape = list(self._shape)
        shape[self._major] = nrows
        return tuple(shape)

    def _region(self, create: bool = True) -> live.Region | None:
        """The live mapping shared by this array's views (None where views are copies)."""
        jar = self._p_jar
        if jar is None or not can_map(self._file.blksize) or not live.available():
            return None
        if self._file._p_jar is None:
            jar.add(self._file)
        state = live.live_state(jar)
        if not create:
            region = state.regions.get(self._file._p_oid)
            return region if region is not None and region.length >= self.nbytes else None
        return state.region(self._file, self.nbytes)

    def _view(self, row0: int, row1: int) -> np.ndarray:
        """Mapped ndarray of major-axis indices ``[row0, row1)``: live and writable when
        the array is in a connection, else a read-only snapshot."""
        nbytes = (row1 - row0) * self._rowbytes
        shape = self._rows_shape(row1 - row0)
        region = self._region()
        if nbytes == 0:
            empty = np.zeros(shape, dtype=self._dtype, order=self._order)
            empty.flags.writeable = region is not None
            return empty
        if region is None:
            buffer = map_range(self._file, row0 * self._rowbytes, nbytes)
        else:
            buffer = region.buffer(row0 * self._rowbytes, nbytes)
        flat = np.frombuffer(buffer, dtype=self._dtype)
        return flat.reshape(shape, order=self._order)

    # -- keys -----------------------------------------------------------------------------
    def _expand(self, key: Any) -> tuple[list[Any], int] | None:
        """The key with Ellipsis expanded, and the position of the major-axis component.

        None when the key uses advanced indexing (arrays, lists, booleans).
        """
        if not isinstance(key, tuple):
            key = (key,)
        if not all(_is_basic(k) or k is Ellipsis for k in key):
            return None
        real = sum(1 for k in key if k is not None and k is not Ellipsis)
        if real > self.ndim:
            raise IndexError(
                f"too many indices for array: array is {self.ndim}-dimensional, "
                f"but {real} were indexed"
            )
        ellipses = sum(1 for k in key if k is Ellipsis)
        if ellipses > 1:
            raise IndexError("an index can only have a single ellipsis ('...')")
        expanded: list[Any] = []
        for k in key:
            if k is Ellipsis:
                expanded.extend([slice(None)] * (self.ndim - real))
            else:
                expanded.append(k)
        if not ellipses:
            expanded.extend([slice(None)] * (self.ndim - real))
        positions = [i for i, k in enumerate(expanded) if k is not None]
        return expanded, positions[self._major]

    def _selected_rows(self, component: Any) -> range:
        """Major-axis indices the key component selects, as a (lazy) range."""
        n = self._shape[self._major]
        if isinstance(component, slice):
            return range(*component.indices(n))
        index = int(component)
        if not -n <= index < n:
            raise IndexError(
                f"index {index} is out of bounds for axis {self._major} with size {n}"
            )
        return range(index % n, index % n + 1)

    # -- reading ----------------------------------------------------------------------------
    def __getitem__(self, key: Any):
        """A read-only numpy view of the selection, mapped lazily (basic indexing)."""
        split = self._expand(key)
        n = self._shape[self._major]
        if split is None:  # advanced indexing: numpy copies the selection
            result_shape = self._dummy()[key].shape
            check_copy(
                math.prod(result_shape) * self.itemsize, "advanced indexing", "use slices instead"
            )
            return _readonly(self._view(0, n)[key])
        result = _readonly(self._basic(split))
        if (
            isinstance(result, np.ndarray) and result.flags.writeable
            and result.nbytes >= live.CLAIM_MIN
            and (result.flags.c_contiguous or result.flags.f_contiguous)
            and live.in_augmented_assignment(sys._getframe(1))
        ):
            # ``A[i:j] op= v``: the view is written whole and stored back at once; its
            # in-place ufunc call claims the blocks (see live.ClaimedView).
            region = self._region(create=False)
            if region is not None and live.owner_of(result) is not None:
                return live.claimed_view(
                    result, region, result.ctypes.data - region.address,
                    lambda: self._region(create=False) is region)
        return result

    def _basic(self, split: tuple[list[Any], int]) -> Any:
        """The view a basic (expanded) key selects."""
        n = self._shape[self._major]
        expanded, pos = split
        component = expanded[pos]
        rows = self._selected_rows(component)
        lo, hi = _bounds(rows)
        if isinstance(component, slice):
            start = int(rows[0]) - lo if len(rows) else 0
            step = component.indices(n)[2]
            stop = start + len(rows) * step
            expanded[pos] = slice(start, stop if stop >= 0 else None, step)
        else:
            expanded[pos] = 0
        return self._view(lo, hi)[tuple(expanded)]

    def _dummy(self) -> np.ndarray:
        """A zero-memory array of this shape, to let numpy validate keys and shapes."""
        return np.lib.stride_tricks.as_strided(
            np.zeros((), dtype=np.bool_), shape=self._shape, strides=(0,) * self.ndim
        )

    def _chunk_rows(self) -> int:
        """Major-axis indices per write chunk: about a quarter of the budget, whole blocks."""
        rowbytes = max(1, self._rowbytes)
        target = max(self.blksize, min(get_memory_budget() // 4, 64 * 1024**2))
        return max(1, target // rowbytes)

    # -- writing ----------------------------------------------------------------------------
    def __setitem__(self, key: Any, value: Any) -> None:
        """Assign with numpy's broadcasting rules, chunk by chunk along the major axis."""
        split = self._expand(key)
        if split is None:
            self._setitem_copy(key, value)
            return
        expanded, pos = split
        target_shape = self._dummy()[tuple(expanded)].shape  # validates the key
        region = self._region(create=False)
        if region is not None and isinstance(value, np.ndarray) and value.size:
            if live.owner_of(value) is not None and _same_memory(value, self._basic(
                    (list(expanded), pos))):
                # ``A[i:j] *= 2``: the view was changed in place, only write it out.
                first, last = self._block_span(self._selected_rows(expanded[pos]))
                region.finish_claims(first, last)
                region.flush(first, last)
                return
            if _overlaps(value, region):
                check_copy(value.nbytes, "an assignment from an overlapping view",
                           "assign from a copy of a smaller part")
                value = np.array(value)
        if self._dtype.names is not None and not isinstance(value, np.ndarray):
            value = _as_records(value, self._dtype)
        value = original = np.asarray(value)
        if value.dtype.hasobject:
            value = self._cast(value)
        self._check_castable(value)
        while value.ndim > len(target_shape) and value.shape[0] == 1:
            value = value[0]  # numpy drops leading length-1 dimensions of the value
        try:
            value = np.broadcast_to(value, target_shape)
        except ValueError:
            raise BigArrayError(
                f"could not broadcast value of shape {value.shape} into shape {target_shape}"
            ) from None
        component = expanded[pos]
        rows = self._selected_rows(component)
        if len(rows) == 0:
            return
        result_axis = None
        if isinstance(component, slice):
            result_axis = sum(1 for k in expanded[:pos] if not isinstance(k, (int, np.integer)))
        whole_rows = (
            isinstance(component, slice)
            and component.indices(self._shape[self._major])[2] == 1
            and all(isinstance(k, slice) and k == slice(None) for i, k in enumerate(expanded)
                    if i != pos)
        )
        if region is not None:
            # Dirty pages of the blocks written must reach the file first (the write
            # keeps their other bytes); afterwards every view maps the new blobs.
            first, last = self._block_span(rows)
            region.flush(first, last)
        try:
            self._assign(expanded, pos, rows, value, original, key, result_axis, whole_rows)
        except (TypeError, ValueError) as exc:
            if isinstance(exc, BigArrayError):
                raise
            raise BigArrayError(
                f"cannot store a value of shape {original.shape} and dtype {original.dtype} "
                f"at {key!r} of {self!r}: {exc}"
            ) from None
        finally:
            if region is not None:
                region.remap(first, last)

    def _block_span(self, rows: range) -> tuple[int, int]:
        """First and last storage block holding the major-axis indices ``rows``."""
        lo, hi = _bounds(rows)
        blksize = self._file.blksize
        return lo * self._rowbytes // blksize, max(lo, hi * self._rowbytes - 1) // blksize

    def _assign(
        self, expanded: list[Any], pos: int, rows: range, value: np.ndarray,
        original: np.ndarray, key: Any, result_axis: int | None, whole_rows: bool,
    ) -> None:
        """Write ``value`` over ``rows`` chunk by chunk (see :meth:`__setitem__`)."""
        chunk = self._chunk_rows()
        if whole_rows:
            assert result_axis is not None  # whole rows are selected by a slice
            first = int(rows[0])
            for begin in range(0, len(rows), chunk):
                end = min(begin + chunk, len(rows))
                part = _take_range(value, result_axis, begin, end)
                part = np.require(part, dtype=self._dtype, requirements=self._order)
                self._file.write((first + begin) * self._rowbytes, part)
            return
        # Read-modify-write: each chunk copies the rows its selection spans, so a step
        # of k selects chunk // k rows per chunk and the copy stays within the chunk.
        per_chunk = max(1, chunk // abs(rows.step))
        for begin in range(0, len(rows), per_chunk):
            selected = rows[begin : begin + per_chunk]
            lo, hi = _bounds(selected)
            block = None  # free the previous chunk's copy before making the next
            block = np.array(self._view(lo, hi), order=self._order)
            subkey = list(expanded)
            if result_axis is None:
                subkey[pos] = int(selected[0]) - lo
                part = original  # numpy decides what fits, exactly as for ndarrays
            else:
                # The rows of a slice are an arithmetic progression: keep a slice, so
                # numpy's basic-indexing axis order holds (no advanced index).
                first, last = int(selected[0]) - lo, int(selected[-1]) - lo
                step = selected.step
                stop = last + (1 if step > 0 else -1)
                subkey[pos] = slice(first, stop if stop >= 0 else None, step)
                part = _take_range(value, result_axis, begin, begin + len(selected))
            if key is Ellipsis or isinstance(key, tuple) and any(k is Ellipsis for k in key):
                subkey.append(Ellipsis)  # keeps numpy's view (not element) assignment rules
            block[tuple(subkey)] = part
            self._file.write(lo * self._rowbytes, np.require(block, requirements=self._order))

    def _setitem_copy(self, key: Any, value: Any) -> None:
        check_copy(self.nbytes, "assignment with advanced indexing", "assign through slices")
        whole = np.array(self._view(0, self._shape[self._major]), order=self._order)
        whole[key] = value
        region = self._region(create=False)
        self._file.write(0, whole)
        if region is not None:
            region.remap()

    def resize(self, new_shape: Any, refcheck: bool = True) -> None:
        """Change the length of the major axis (other dimensions are fixed).

        ``refcheck`` is accepted for numpy's signature: views stay valid whatever the
        size (a view never shows past the length it was taken with)."""
        new_shape = _check_shape(new_shape)
        if len(new_shape) != self.ndim or any(
            a != b for i, (a, b) in enumerate(zip(new_shape, self._shape, strict=True))
            if i != self._major
        ):
            raise BigArrayError(
                f"resize {self._shape} -> {new_shape}: only axis {self._major} "
                f"(the major axis of a {self._order}-ordered array) may change"
            )
        region = self._region(create=False)
        if region is not None:
            region.flush()  # the kept part of a shortened block comes from the file
        self._file.truncate(math.prod(new_shape) * self.itemsize)
        self._shape = new_shape
        if region is not None:
            region.remap()

    def _cast(self, value: np.ndarray) -> np.ndarray:
        """``value`` as this array's dtype; a failing conversion names both dtypes."""
        try:
            return value.astype(self._dtype)
        except (TypeError, ValueError) as exc:
            raise BigArrayError(
                f"cannot store values of dtype {value.dtype} in an array of dtype "
                f"{self._dtype}: {exc}"
            ) from None

    def _check_castable(self, value: np.ndarray) -> None:
        """Fail before writing anything when ``value`` cannot become this array's dtype.

        Converting one element catches what numpy refuses (text into numbers, mismatched
        structured fields); numpy's own unsafe numeric casts stay allowed, as for ndarrays.
        """
        if value.dtype != self._dtype and value.size:
            self._cast(value.reshape(-1)[:1])

    def append(self, values: Any) -> None:
        """Append ``values`` along the major axis; costs time proportional to ``values``."""
        values = np.asarray(values)
        if values.dtype.hasobject:
            values = self._cast(values)
        self._check_castable(values)
        expected = self._rows_shape(values.shape[self._major] if values.ndim == self.ndim else 0)
        rest = [n for i, n in enumerate(expected) if i != self._major]
        got = [n for i, n in enumerate(values.shape) if i != self._major]
        if values.ndim != self.ndim or rest != got:
            raise BigArrayError(
                f"cannot append values of shape {values.shape} to array of shape {self._shape}"
            )
        old = self._shape[self._major]
        count = values.shape[self._major]
        self.resize(self._rows_shape(old + count))
        key = [slice(None)] * self.ndim
        key[self._major] = slice(old, old + count)
        try:
            self[tuple(key)] = values
        except BaseException:
            self.resize(self._rows_shape(old))  # a failed append leaves the shape as it was
            raise

    # -- iteration --------------------------------------------------------------------------
    def rows_per_block(self) -> int:
        return max(1, self.blksize // max(1, self._rowbytes))

    def iterblocks(self) -> BlockIterator:
        """``(start, stop, view)`` runs along the major axis, one storage block each."""
        return BlockIterator(self)

    def to_dask(self):
        """A dask array over this array, chunked along blocks."""
        import dask.array as da

        chunks = list(self._shape)
        chunks[self._major] = self.rows_per_block()
        name = f"zbigarray-{id(self)}-{self._p_serial.hex() if self._p_serial else 'new'}"
        return da.from_array(self, chunks=tuple(chunks), name=name, asarray=False, fancy=False)

    def __array__(self, dtype=None, copy=None):
        return np.asarray(self[...], dtype=dtype)

    def __repr__(self) -> str:
        return f"<ZBigArray shape={self._shape} dtype={self._dtype} order={self._order}>"

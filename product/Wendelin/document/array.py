"""Data Array: an n-dimensional numpy-typed array stored out of core in a ZBigArray.

The read API (shape, dtype, field names, slices, the ``.npy`` download, HTTP slices as
Wendelin's JavaScript reads them) lives in :class:`ArrayDocumentMixin`, shared with the
Data Array Line (:mod:`.array_line`), a sub-array of its parent Data Array.

Over HTTP, the document URL answers:

- a browser navigating (``GET`` with ``Accept: text/html``, no slice, no ``format``):
  the document's page;
- ``?slice_index.start:records:int=a&slice_index.stop:records:int=b`` (one record per
  axis, ``step`` too) and ``&list_index:list=<field>`` for structured arrays: the raw
  C-order bytes of that selection, dtype and shape in ``X-Array-Dtype`` and
  ``X-Array-Shape``; ``?format=raw``: the raw bytes of the whole array;
- anything else (``?format=npy`` forces it): the ``.npy`` file.

Every answer is streamed block by block (never more than a few MiB in memory), honours
a single byte ``Range`` and tells its true length to ``HEAD``.
"""

from __future__ import annotations

import io
import itertools
import json
import math
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from AccessControl.class_init import InitializeClass
from AccessControl.SecurityInfo import ClassSecurityInfo
from OFS.ObjectManager import ObjectManager
from ZPublisher import zpublish

from ..bigdata import ZBigArray
from ..bigdata.bigarray import _readonly, check_dtype
from ..bigdata.bigfile import read_segments
from ..bigdata.budget import check_copy, get_memory_budget
from ..bigdata.errors import BigArrayError
from ..bigdata.mapping import map_range
from ..errors import InvalidInputError
from ..permissions import ModifyPortalContent, View
from .base import DocumentMixin, WendelinDocument, http_answer
from .container import ContentContainerMixin

#: Bytes per block of a streamed answer: a few MiB, and well within the memory budget.
STREAM_BLOCK = 4 * 1024 * 1024
#: A response body as a function of the byte range ``[start, end)`` it must give.
Body = Callable[[int, int], Iterator[bytes]]
#: Field names of structured arrays (``setArrayDtypeNames``, Data Array Line names).
MAX_NAME = 100
MAX_FIELDS = 1000


class IndexExpressionError(InvalidInputError, IndexError):
    """An index that does not fit the array (400 over HTTP, an IndexError for numpy code)."""


def check_names(names: Any, what: str = "names") -> tuple[str, ...]:
    """``names`` as a tuple of distinct, non-empty field names, else InvalidInputError."""
    if isinstance(names, (str, bytes)) or not isinstance(names, (list, tuple)):
        raise InvalidInputError(f"{what} must be a list of strings, got {type(names).__name__}")
    if len(names) > MAX_FIELDS:
        raise InvalidInputError(f"{what} has {len(names)} names, at most {MAX_FIELDS}")
    for name in names:
        if not isinstance(name, str) or not name or len(name) > MAX_NAME:
            raise InvalidInputError(
                f"{what}: each name must be a string of 1 to {MAX_NAME} characters, "
                f"got {str(name)[:60]!r}"
            )
    if len(set(names)) != len(names):
        raise InvalidInputError(f"{what} must be distinct, got {list(names)[:20]!r}")
    return tuple(names)


def renamed_dtype(dtype: np.dtype, names: Any) -> np.dtype:
    """The structured ``dtype`` with its fields renamed, in order (same layout)."""
    names = check_names(names)
    if dtype.names is None:
        raise InvalidInputError(f"dtype {dtype} has no fields to name")
    if len(names) != len(dtype.names):
        raise InvalidInputError(
            f"dtype {dtype} has {len(dtype.names)} fields, got {len(names)} names"
        )
    described = dtype.fields
    assert described is not None  # a dtype with names has fields
    fields = [described[name] for name in dtype.names]
    return np.dtype({
        "names": list(names),
        "formats": [field[0] for field in fields],
        "offsets": [field[1] for field in fields],
        "itemsize": dtype.itemsize,
    })


def dtype_header(dtype: np.dtype) -> str:
    """``X-Array-Dtype``: ``<f8`` for plain dtypes, the JSON ``.npy`` descr for structured
    ones (ASCII, no control characters, whatever the field names)."""
    descr = np.lib.format.dtype_to_descr(dtype)
    return descr if isinstance(descr, str) else json.dumps(descr, ensure_ascii=True)


def _dummy(shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """A zero-memory array of this shape and dtype, to let numpy validate an index."""
    return np.lib.stride_tricks.as_strided(
        np.zeros((), dtype=dtype), shape=shape, strides=(0,) * len(shape)
    )


def select(array: Any, key: tuple | None, fields: Sequence[str] | str | None) -> Any:
    """``array[key][fields]``: a basic index, then a field selection (packed views)."""
    selected = array[key] if key is not None else array
    if fields is None:
        return selected
    if not isinstance(selected, np.ndarray):
        selected = selected[...]
    return selected[fields if isinstance(fields, str) else list(fields)]


def check_selection(
    shape: tuple[int, ...], dtype: np.dtype, key: tuple | None,
    fields: tuple[str, ...] | str | None,
) -> tuple[tuple[int, ...], np.dtype]:
    """Shape and dtype that :func:`select` gives, checked on a zero-memory stand-in."""
    if fields is not None:
        wanted = [fields] if isinstance(fields, str) else list(fields)
        if dtype.names is None:
            raise InvalidInputError(f"fields {wanted[:10]!r} selected in an array of dtype "
                                    f"{dtype}, which has no fields")
        missing = [name for name in wanted if name not in dtype.names]
        if missing:
            raise InvalidInputError(
                f"no field {missing[0]!r} in the array (fields: {', '.join(dtype.names)})"
            )
    try:
        result = select(_dummy(shape, dtype), key, fields)
    except (IndexError, ValueError, TypeError) as exc:
        raise IndexExpressionError(f"index {key!r} does not fit shape {shape}: {exc}") from None
    return result.shape, result.dtype


def packed(dtype: np.dtype) -> np.dtype:
    """A structured dtype without the gaps a field selection leaves (plain dtypes as they are)."""
    if dtype.names is None:
        return dtype
    from numpy.lib import recfunctions

    return recfunctions.repack_fields(dtype)


def iter_bytes(array: np.ndarray, start: int, end: int, dtype: np.dtype | None = None
               ) -> Iterator[bytes]:
    """Bytes ``[start, end)`` of ``array`` written in C order (as ``dtype``), block by block.

    A buffered ``nditer`` gathers strided, reordered or repacked items into blocks of
    :data:`STREAM_BLOCK` bytes, so memory stays bounded whatever the selection's size.
    """
    dtype = array.dtype if dtype is None else dtype
    itemsize = dtype.itemsize
    if end <= start or itemsize == 0:
        return
    block = max(1, min(STREAM_BLOCK, get_memory_budget() // 8) // itemsize)
    first, last = start // itemsize, -(-end // itemsize)
    iterator: Any = np.nditer(  # Any: numpy's stubs make iterrange read-only
        array, flags=["external_loop", "buffered", "ranged", "zerosize_ok"],
        op_flags=["readonly"], op_dtypes=dtype, casting="equiv" if dtype.names else "no",
        buffersize=block, order="C",
    )
    iterator.iterrange = (first, last)
    skip, left = start - first * itemsize, end - start
    for chunk in iterator:
        data = chunk.tobytes()
        if skip:
            data, skip = data[skip:], 0
        if len(data) > left:
            data = data[:left]
        left -= len(data)
        yield data
        if left <= 0:
            return


class RAMArray:
    """The in-RAM array of a temporary Data Array (``temp_object=True``): never stored,
    within the memory budget; views are writable numpy views, as for a ZBigArray."""

    def __init__(self, shape: Any, dtype: Any, order: Literal["C", "F"] = "C") -> None:
        dtype = check_dtype(dtype)
        try:
            shape = tuple(int(n) for n in ((shape,) if isinstance(shape, int) else shape))
        except (TypeError, ValueError):
            raise BigArrayError(f"shape must be a tuple of integers, got {shape!r}") from None
        if not shape or any(n < 0 for n in shape):
            raise BigArrayError(f"shape must be non-negative integers, got {shape!r}")
        check_copy(math.prod(shape) * dtype.itemsize, "a temporary Data Array",
                   "store it in a Data Array of the module instead")
        self._data = np.zeros(shape, dtype=dtype, order=order)

    shape = property(lambda self: self._data.shape)
    dtype = property(lambda self: self._data.dtype)
    ndim = property(lambda self: self._data.ndim)
    size = property(lambda self: self._data.size)
    itemsize = property(lambda self: self._data.itemsize)
    nbytes = property(lambda self: self._data.nbytes)
    order = property(lambda self: "F" if self._data.flags.f_contiguous
                     and not self._data.flags.c_contiguous else "C")

    def __len__(self) -> int:
        return len(self._data)

    def __getitem__(self, key: Any) -> Any:
        return self._data[key]

    def __setitem__(self, key: Any, value: Any) -> None:
        self._data[key] = value

    def __array__(self, dtype=None, copy=None):
        return np.asarray(self._data, dtype=dtype)

    def _set_dtype(self, dtype: np.dtype) -> None:
        self._data = self._data.view(dtype)

    def append(self, values: Any) -> None:
        """Append along the first axis (a copy of the whole array, within the budget)."""
        values = np.asarray(values, dtype=self.dtype)
        check_copy(self.nbytes + values.nbytes, "appending to a temporary Data Array",
                   "store it in a Data Array of the module instead")
        try:
            self._data = np.concatenate([self._data, values])
        except ValueError as exc:
            raise BigArrayError(f"cannot append values of shape {values.shape} to array of "
                                f"shape {self.shape}: {exc}") from None

    def __repr__(self) -> str:
        return f"<RAMArray shape={self.shape} dtype={self.dtype}>"


class ArrayDocumentMixin:
    """Read API and HTTP answers of documents holding an array (Data Array and its lines)."""

    security = ClassSecurityInfo()

    if TYPE_CHECKING:  # from the document class each array document also derives from
        def getId(self) -> str: ...
        def getPortalType(self) -> str: ...
        def getTypeInfo(self) -> Any: ...

    def getArray(self) -> Any:  # pragma: no cover - defined by each document class
        raise NotImplementedError

    def _snapshot(self) -> Any:
        """The array as an ndarray independent of the ZODB connection (a response body is
        read after the request's transaction ended), or None without an array."""
        raise NotImplementedError  # pragma: no cover

    def _require(self) -> Any:
        array = self.getArray()
        if array is None:
            raise ValueError(f"{self.getPortalType()} {self.getId()!r} has no array yet: "
                             "call initArray()")
        return array

    @security.protected(View)
    @zpublish(False)
    def getArraySlice(self, start: int, end: int) -> np.ndarray:
        """Rows ``[start, end)``: a writable live view for trusted code (writes join the
        transaction), a read-only view for restricted scripts."""
        return _readonly(self._require()[start:end])

    @security.protected(View)
    @zpublish(False)
    def getArrayIndex(self, index: Any) -> Any:
        """``array[index]`` (an item, or a view as for :meth:`getArraySlice`)."""
        return _readonly(self._require()[index])

    @security.protected(View)
    def getArrayShape(self) -> tuple[int, ...] | None:
        array = self.getArray()
        return None if array is None else tuple(array.shape)

    @security.protected(View)
    def getArrayDtype(self) -> Any:
        """The array's dtype (as restricted_data.ScriptDtype for scripts), None without one."""
        array = self.getArray()
        return None if array is None else _readonly(array.dtype)

    @security.protected(View)
    def getArrayDtypeNames(self) -> tuple[str, ...] | None:
        """Field names of a structured array (None for plain dtypes or without an array)."""
        array = self.getArray()
        return None if array is None else array.dtype.names

    @security.protected(View)
    def getSize(self) -> int:
        """Size of the array data in bytes."""
        array = self.getArray()
        return 0 if array is None else int(array.nbytes)

    # -- HTTP ------------------------------------------------------------------------------
    def _npyHeader(self, shape: tuple[int, ...], dtype: np.dtype, fortran: bool) -> bytes:
        """The ``.npy`` (format 1.0) header of an array of this shape and dtype."""
        header = io.BytesIO()
        np.lib.format.write_array_header_1_0(
            header,
            {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": fortran,
             "shape": tuple(shape)},
        )
        return header.getvalue()

    security.declarePrivate("npyBody", "selectionBody")  # for the HTTP handler

    def npyBody(self) -> tuple[int, Body]:
        """The ``.npy`` of the array in C order: its length, and a function giving the
        bytes ``[start, end)`` block by block (read after the transaction ended)."""
        array = self._require()
        shape, dtype = tuple(array.shape), array.dtype
        head = self._npyHeader(shape, dtype, False)
        size = math.prod(shape) * dtype.itemsize

        def body(start: int, end: int) -> Iterator[bytes]:
            data = iter_bytes(np.asarray(self._snapshot()), max(0, start - len(head)),
                              end - len(head))
            return itertools.chain([head[start:end]] if start < len(head) else [], data)

        return len(head) + size, body

    def selectionBody(self, key: tuple | None, fields: Any
                      ) -> tuple[tuple[int, ...], np.dtype, int, Body]:
        """The packed raw bytes of ``A[key][fields]``: shape, dtype, length and a body
        function as for :meth:`npyBody` (InvalidInputError for a bad selection)."""
        array = self._require()
        shape, dtype = check_selection(tuple(array.shape), array.dtype, key, fields)
        dtype = packed(dtype)
        length = math.prod(shape) * dtype.itemsize

        def body(start: int, end: int) -> Iterator[bytes]:
            return iter_bytes(np.asarray(select(self._snapshot(), key, fields)), start, end,
                              dtype)

        return shape, dtype, length, body

    @security.protected(View)
    def index_html(self, REQUEST, RESPONSE):
        """The page for browsers, a slice's raw bytes, or the ``.npy`` (module docstring;
        the HTTP handler is the edge's, ``http/arrays.py``)."""
        return http_answer(self, REQUEST)

    @security.protected(View)
    def HEAD(self, REQUEST, RESPONSE):
        """The length and type of what GET answers, without the bytes."""
        return http_answer(self, REQUEST)


InitializeClass(ArrayDocumentMixin)


def flush_views(array: ZBigArray) -> None:
    """Write out what views of ``array`` changed in this transaction, so the stored
    blocks (streamed, snapshotted) hold it."""
    region = array._region(create=False)
    if region is not None:
        region.flush()


class DataArray(ArrayDocumentMixin, ContentContainerMixin, ObjectManager, WendelinDocument):
    """A typed array such as one channel of a recording or its spectrum (ERP5 API).

    It may hold Data Array Lines, named sub-arrays of it (see :mod:`.array_line`).
    """

    meta_type = "Wendelin Data Array"
    portal_type = "Data Array"
    security = ClassSecurityInfo()
    #: Lines are created with newContent only (no ZMI adding, no pasting).
    all_meta_types = ()
    #: ``sample_rate`` (Hz) and ``signal_length`` (samples) describe signals and spectra.
    property_types = {
        **WendelinDocument.property_types,
        "sample_rate": float,
        "signal_length": int,
    }
    sample_rate = 0.0
    signal_length = 0
    _array: ZBigArray | RAMArray | None = None
    #: Set by ``newContent(..., temp_object=True)``: never stored, its array lives in RAM.
    _temp_object = False

    manage_options = WendelinDocument.manage_options
    __repr__ = DocumentMixin.__repr__

    @security.protected(View)
    def isTempObject(self) -> bool:
        """Whether this Data Array is temporary (``temp_object=True``: not in the database)."""
        return bool(self._temp_object)

    @security.protected(View)
    def getSampleRate(self) -> float:
        """Samples per second of the signal this array holds or was computed from (0: unknown)."""
        return self.sample_rate

    @security.protected(View)
    def getSignalLength(self) -> int:
        """Length of the signal a spectrum was computed from (0: not a spectrum)."""
        return self.signal_length

    @security.protected(ModifyPortalContent)
    @zpublish(False)
    def initArray(self, shape: Any, dtype: Any) -> ZBigArray | RAMArray:
        """Create (or replace) the array; returns it. Saved on commit, reindexed now.

        A temporary Data Array gets an in-RAM array (within the memory budget). Writes
        straight to the returned array are not seen by the catalog until the document is
        reindexed; :meth:`setArraySlice` and :meth:`appendArray` do it.
        """
        if self._temp_object:
            self._array = RAMArray(shape, dtype)
            return self._array
        array = ZBigArray(shape, dtype)
        if self._p_jar is not None:
            # Attached now, so the blocks of a large first write spill to the blob directory.
            self._p_jar.add(array)
            self._p_jar.add(array._file)
        self._array = array
        self.reindexData()
        return array

    @security.protected(ModifyPortalContent)
    @zpublish(False)
    def setArraySlice(self, start: int, end: int, values: Any) -> None:
        """``array[start:end] = values`` (numpy broadcasting), then reindex (size, date)."""
        self._require()[start:end] = values
        self.reindexData()

    @security.protected(ModifyPortalContent)
    @zpublish(False)
    def appendArray(self, values: Any) -> tuple[int, ...]:
        """Append ``values`` along the major axis; returns the new shape (reindexed)."""
        array = self._require()
        array.append(values)
        self.reindexData()
        return array.shape

    @security.protected(ModifyPortalContent)
    @zpublish(False)
    def setArrayDtypeNames(self, names: Any) -> None:
        """Rename the fields of a structured array, in order (the layout stays)."""
        array = self._require()
        dtype = renamed_dtype(array.dtype, names)
        if isinstance(array, RAMArray):
            array._set_dtype(dtype)
        else:
            array._dtype = dtype  # persistent: stored with the array on commit
        self.reindexData()

    @security.protected(View)
    @zpublish(False)
    def getArray(self) -> ZBigArray | RAMArray | None:
        """The ZBigArray (an in-RAM array if temporary), or None before ``initArray``."""
        return self._array

    @zpublish(False)
    def reindexData(self) -> None:
        """Temporary Data Arrays are not catalogued; stored ones as every document."""
        if not self._temp_object:
            super().reindexData()

    @zpublish(False)
    def reindexObject(self, idxs: Any = None) -> None:
        """Catalogue the document (never a temporary one)."""
        if not self._temp_object:
            super().reindexObject(idxs=idxs or [])

    def _snapshot(self) -> Any:
        array = self._array
        if not isinstance(array, ZBigArray):
            return None if array is None else array[...]
        flush_views(array)
        if array.nbytes == 0:
            return np.zeros(array.shape, dtype=array.dtype)
        buffer = map_range(array._file, 0, array.nbytes)
        return np.frombuffer(buffer, dtype=array.dtype).reshape(array.shape, order=array.order)

    security.declarePrivate("npyBody")

    def npyBody(self) -> tuple[int, Body]:
        """A stored array's ``.npy`` straight from its blob files (storage order)."""
        array = self._require()
        if not isinstance(array, ZBigArray):
            return super().npyBody()
        flush_views(array)  # view writes earlier in this request are in the stored blocks
        head = self._npyHeader(array.shape, array.dtype, array.order == "F")
        segments = array._file.segments

        def body(start: int, end: int) -> Iterator[bytes]:
            data_start, data_end = max(0, start - len(head)), max(0, end - len(head))
            data = read_segments(segments(data_start, data_end)) if data_end > data_start \
                else iter(())
            return itertools.chain([head[start:end]] if start < len(head) else [], data)

        return len(head) + array.nbytes, body


InitializeClass(DataArray)

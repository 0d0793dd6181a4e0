"""Data Array: an n-dimensional numpy-typed array stored out of core in a ZBigArray."""

from __future__ import annotations

import io
import itertools
from typing import Any

import numpy as np
from AccessControl.class_init import InitializeClass
from AccessControl.SecurityInfo import ClassSecurityInfo
from zExceptions import NotFound
from ZPublisher import zpublish

from ..bigdata import ZBigArray
from ..bigdata.bigfile import read_segments
from ..permissions import ModifyPortalContent, View
from .base import WendelinDocument
from .http import ChunkIterator, serve_inert


class DataArray(WendelinDocument):
    """A typed array such as one channel of a recording or its spectrum (ERP5 API)."""

    meta_type = "Wendelin Data Array"
    portal_type = "Data Array"
    security = ClassSecurityInfo()
    #: ``sample_rate`` (Hz) and ``signal_length`` (samples) describe signals and spectra.
    property_types = {
        **WendelinDocument.property_types,
        "sample_rate": float,
        "signal_length": int,
    }
    sample_rate = 0.0
    signal_length = 0
    _array: ZBigArray | None = None

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
    def initArray(self, shape: Any, dtype: Any) -> ZBigArray:
        """Create (or replace) the stored array; returns it. Saved on commit, reindexed now.

        Writes straight to the returned array are not seen by the catalog until the
        document is reindexed; :meth:`setArraySlice` and :meth:`appendArray` do it.
        """
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

    @security.protected(View)
    @zpublish(False)
    def getArray(self) -> ZBigArray | None:
        """The ZBigArray, or None before ``initArray``."""
        return self._array

    @security.protected(View)
    @zpublish(False)
    def getArraySlice(self, start: int, end: int) -> np.ndarray:
        """A read-only view of rows ``[start, end)``."""
        return self._require()[start:end]

    @security.protected(View)
    def getArrayShape(self) -> tuple[int, ...] | None:
        return None if self._array is None else self._array.shape

    @security.protected(View)
    def getArrayDtype(self) -> np.dtype | None:
        return None if self._array is None else self._array.dtype

    @security.protected(View)
    def getSize(self) -> int:
        """Size of the array data in bytes."""
        return 0 if self._array is None else self._array.nbytes

    def _npyHeader(self) -> bytes:
        """The ``.npy`` (format 1.0) header of the stored array."""
        array = self._array
        header = io.BytesIO()
        np.lib.format.write_array_header_1_0(
            header,
            {
                "descr": np.lib.format.dtype_to_descr(array.dtype),
                "fortran_order": array.order == "F",
                "shape": array.shape,
            },
        )
        return header.getvalue()

    @security.protected(View)
    def index_html(self, REQUEST, RESPONSE):
        """GET streams the array as a ``.npy`` download, block by block; HEAD gives its
        length (404 before initArray)."""
        if self._array is None:
            raise NotFound(f"Data Array {self.getId()!r} has no array yet")
        array = self._array
        head = self._npyHeader()
        length = len(head) + array.nbytes
        name = (self.getReference() or self.getId()) + ".npy"
        serve_inert(RESPONSE, "application/octet-stream", name, attachment=True)
        RESPONSE.setHeader("Content-Length", str(length))
        if REQUEST.get("REQUEST_METHOD") == "HEAD":
            return b""
        body = read_segments(array._file.segments(0, array.nbytes))
        return ChunkIterator(itertools.chain([head], body), length)

    @security.protected(View)
    def HEAD(self, REQUEST, RESPONSE):
        """The ``.npy`` download's length and type, without the bytes."""
        return self.index_html(REQUEST, RESPONSE)

    def _require(self) -> ZBigArray:
        if self._array is None:
            raise ValueError(f"Data Array {self.getId()!r} has no array yet: call initArray()")
        return self._array


InitializeClass(DataArray)

"""Data Stream: a very large append-only byte file, stored out of core in a ZBigFile."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
from AccessControl.class_init import InitializeClass
from AccessControl.SecurityInfo import ClassSecurityInfo
from ZODB.POSException import ConflictError
from ZPublisher import zpublish

from ..bigdata import BigFileReader, ZBigFile
from ..bigdata.bigarray import _readonly, check_dtype
from ..bigdata.bigfile import _same_key, read_segments
from ..bigdata.budget import check_copy, get_memory_budget
from ..bigdata.errors import BigFileError
from ..bigdata.mapping import map_range
from ..inputs import check_free_disk
from ..permissions import ModifyPortalContent, View
from .base import WendelinDocument, activate, find_by_reference, http_answer
from .content import check_content_type
from .scripts import run_skin_script, skin_script

#: Block size of streams: an append after a commit copies at most one block (it is what
#: small ingestion posts pay); big writes still go into extents of up to 64 MiB.
STREAM_BLKSIZE = 256 * 1024

#: Seconds the catalog refresh of a stream ingested from several processes waits, so
#: one refresh covers the posts of a burst (posts do not write the catalog themselves).
#: A post in flight while a refresh commits is retried (see ``_p_resolveConflict``):
#: about two per refresh, so the delay keeps that under 1% of the posts.
CATALOG_DELAY = 5.0
_MISSING = object()


def _other_servers_write() -> bool:
    """Whether other Zope servers write this database too: the workers of a cluster, or
    any server started with ``WENDELIN_ZEO`` (one server's own requests to one stream
    are serialised until commit, so they never conflict on its catalog record)."""
    return bool((os.environ.get("WENDELIN_ZEO") or "").strip())


# -- Pipelines (issue 17): ERP5's Data Stream API for ingestion and transformations --------
class _StreamPipelineMixin:
    """Linked streams, msgpack reading and chunked transforms run by activities."""

    security = ClassSecurityInfo()
    successor = ""
    predecessor = ""

    if TYPE_CHECKING:  # from DataStream and the document classes it derives from
        def getPortalObject(self) -> Any: ...
        def getRelativeUrl(self) -> str: ...
        def getSize(self) -> int: ...
        def iterate(self, start: int = 0, end: int | None = None,
                    chunk_size: int | None = None) -> Iterator[bytes]: ...
        def readChunkList(self, start: int = 0, end: int | None = None) -> list[bytes]: ...

    def _linked(self, attribute: str) -> DataStream | None:
        path = getattr(self, attribute, "")
        if not path:
            return None
        try:
            return self.getPortalObject().unrestrictedTraverse(path)
        except (KeyError, AttributeError):
            return None

    @security.protected(View)
    def getSuccessorValue(self) -> DataStream | None:
        """The stream that continues this one, or None."""
        return self._linked("successor")

    @security.protected(View)
    def getPredecessorValue(self) -> DataStream | None:
        """The stream this one continues, or None."""
        return self._linked("predecessor")

    @security.protected(ModifyPortalContent)
    @zpublish(False)
    def setSuccessorValue(self, stream) -> None:
        """Link the stream that continues this one (None unlinks)."""
        self.successor = stream.getRelativeUrl() if stream is not None else ""

    @security.protected(ModifyPortalContent)
    @zpublish(False)
    def setPredecessorValue(self, stream) -> None:
        """Link the stream this one continues (None unlinks)."""
        self.predecessor = stream.getRelativeUrl() if stream is not None else ""

    def _walk(self, attribute: str) -> list:
        found, seen = [], {self.getRelativeUrl()}
        current = self._linked(attribute)
        while current is not None and current.getRelativeUrl() not in seen:
            seen.add(current.getRelativeUrl())
            found.append(current)
            current = current._linked(attribute)
        return found

    @security.protected(View)
    def getRecursiveSuccessorValueList(self) -> list:
        """Every stream after this one, nearest first (cycles stop the walk)."""
        return self._walk("successor")

    @security.protected(View)
    def getRecursivePredecessorValueList(self) -> list:
        """Every stream before this one, nearest first."""
        return self._walk("predecessor")

    @security.protected(View)
    @zpublish(False)
    def readMsgpackChunkList(self, start: int = 0, end: int | None = None) -> tuple[list, int]:
        """The whole msgpack objects stored in ``[start, end)`` and where the last one ends."""
        import msgpack

        end = self.getSize() if end is None else min(int(end), self.getSize())
        check_copy(max(0, end - start), "readMsgpackChunkList()", "read a smaller range")
        unpacker = msgpack.Unpacker(raw=False, strict_map_key=False)
        found, done = [], start
        for chunk in self.iterate(start, end):
            unpacker.feed(chunk)
            for item in unpacker:
                found.append(item)
                done = start + unpacker.tell()
        return found, done

    @security.public
    def extractDateTime(self, value) -> np.datetime64:
        """A fluentd timestamp (seconds, or EventTime) as ``numpy.datetime64(value, 's')``."""
        import msgpack

        if isinstance(value, msgpack.ExtType) and value.code == 0 and len(value.data) == 8:
            value = int.from_bytes(value.data[:4], "big")
        elif isinstance(value, msgpack.Timestamp):
            value = value.seconds
        return np.datetime64(int(value), "s")

    @security.protected(ModifyPortalContent)
    @zpublish(False)
    def transformInActivities(self, chunk_length=1048576, transform_script_id=None,
                              data_array_reference=None, parallelize=0) -> str:
        """``DataStream_transform``: queue the chunked transform and return at once.

        Each chunk (ending at a line end) is one activity calling ``transform_script_id``
        with ``(stream, chunk_list, start, end, data_array_reference)``; serial chunks
        queue the next one, ``parallelize`` queues them all at once.
        """
        from ..inputs import as_int

        # a chunk is read into memory: at most the memory budget, and at least one byte
        chunk_length = as_int("chunk_length", chunk_length, minimum=1,
                              maximum=get_memory_budget())
        script = transform_script_id or "DataStream_copyCSVToDataArray"
        skin_script(self, script)  # a skin script the caller may call, refused here (400)
        tag = f"transform:{self.getRelativeUrl()}:{uuid.uuid4().hex[:8]}"
        if data_array_reference:
            # Made here, once: parallel chunks creating it would each make their own.
            portal = self.getPortalObject()
            if find_by_reference(portal, data_array_reference, "Data Array") is None:
                portal.data_array_module.newContent(portal_type="Data Array",
                                                    reference=data_array_reference)
        if as_int("parallelize", parallelize or 0, minimum=0):
            position, size = 0, self.getSize()
            while position < size:
                stop = self._chunkEnd(position, chunk_length)
                activate(self, tag=tag).transformChunk(position, stop, script,
                                                       data_array_reference, 0, tag)
                position = stop
        else:
            activate(self, serialization_tag=tag, tag=tag).transformChunk(
                0, None, script, data_array_reference, chunk_length, tag)
        return tag

    def _chunkEnd(self, start: int, chunk_length: int) -> int:
        """Where a chunk from ``start`` stops: after the last line end within
        ``chunk_length`` bytes (or the whole line if it is longer), at most the stream end."""
        size = self.getSize()
        stop = min(size, start + chunk_length)
        if stop == size:
            return size
        block = b"".join(self.iterate(start, stop))
        cut = block.rfind(b"\n")
        if cut >= 0:
            return start + cut + 1
        position = stop
        while position < size:  # a line longer than a chunk: take it whole
            piece = b"".join(self.iterate(position, min(size, position + chunk_length)))
            found = piece.find(b"\n")
            if found >= 0:
                return position + found + 1
            position += len(piece)
        return size

    security.declarePrivate("transformChunk")

    def transformChunk(self, start, end, script_id, data_array_reference, chunk_length,
                       tag) -> None:
        """One activity of a transform: the chunk ``[start, end)``; serial runs (``end`` is
        None) compute their end and queue the next chunk in the same transaction."""

        if end is None:
            end = self._chunkEnd(start, chunk_length)
            if end < self.getSize():
                activate(self, serialization_tag=tag, tag=tag).transformChunk(
                    end, None, script_id, data_array_reference, chunk_length, tag)
        if end <= start:
            return
        run_skin_script(self, script_id, self, self.readChunkList(start, end), start, end,
                        data_array_reference)


InitializeClass(_StreamPipelineMixin)


class DataStream(_StreamPipelineMixin, WendelinDocument):
    """A stream of bytes, such as an uploaded sound file or a sensor feed (ERP5 API)."""

    meta_type = "Wendelin Data Stream"
    portal_type = "Data Stream"
    security = ClassSecurityInfo()
    property_types = {**WendelinDocument.property_types, "content_type": str}
    property_checks = {**WendelinDocument.property_checks, "content_type": check_content_type}
    content_type = "application/octet-stream"
    _file: ZBigFile | None = None
    #: A delayed catalog refresh is queued and has not run (see :meth:`noteIngested`).
    _catalog_pending = False

    def _p_resolveConflict(self, old: Any, committed: Any, new: Any) -> Any:
        """Merge two transactions that changed different attributes, or only appended
        (the modification date: the later one wins).

        A catalog refresh (``_catalog_pending`` cleared) did not see the other side's
        append when that side's date moved without touching the flag: it conflicts, so
        the append is retried and queues the next refresh (the catalog stays exact).
        """
        if not all(isinstance(state, dict) for state in (old, committed, new)):
            raise ConflictError("Data Stream state is not a dictionary")
        merged = dict(committed)
        for key in set(old) | set(committed) | set(new):
            was, theirs, ours = (state.get(key, _MISSING) for state in (old, committed, new))
            if key == "modification_date" and _MISSING not in (theirs, ours):
                merged[key] = max(theirs, ours)
                continue
            same = _same_key(was)
            if _same_key(ours) == same or _same_key(ours) == _same_key(theirs):
                continue  # ours left it (or agrees): committed's value stays
            if _same_key(theirs) != same:
                raise ConflictError(f"Data Stream attribute {key!r} changed by both")
            if ours is _MISSING:
                merged.pop(key, None)
            else:
                merged[key] = ours
        cleared = [state.get("_catalog_pending", False) for state in (old, committed, new)]
        dates = [_same_key(state.get("modification_date")) for state in (old, committed, new)]
        if cleared[0] and not cleared[1] and cleared[2] and dates[2] != dates[0]:
            raise ConflictError("a catalog refresh missed a concurrent append")
        if cleared[0] and cleared[1] and not cleared[2] and dates[1] != dates[0]:
            raise ConflictError("a catalog refresh missed a concurrent append")
        return merged

    def _getFile(self, create: bool = False) -> ZBigFile | None:
        if self._file is None and create:
            self._file = ZBigFile(blksize=STREAM_BLKSIZE)
            if self._p_jar is not None:
                self._p_jar.add(self._file)  # its blocks then spill to the blob directory
        return self._file

    def _created_file(self) -> ZBigFile:
        bigfile = self._getFile(create=True)
        assert bigfile is not None  # create=True makes it
        return bigfile

    @security.protected(View)
    def getSize(self) -> int:
        """Size of the stream in bytes."""
        bigfile = self._getFile()
        return 0 if bigfile is None else bigfile.size

    @security.protected(View)
    @zpublish(False)
    def getData(self) -> bytes:
        """The whole content; above the memory budget a clear error (use iterate/open)."""
        size = self.getSize()
        check_copy(size, f"getData() of Data Stream {self.getId()!r}",
                   "use iterate(), readChunkList() or open() to read it piecewise")
        bigfile = self._file
        return bigfile.read(0, size) if size and bigfile is not None else b""

    @security.protected(ModifyPortalContent)
    @zpublish(False)
    def appendData(self, data, reindex: bool = True) -> int:
        """Append ``data`` at the end; returns the new size (reindexed: size, date).

        ``reindex=False`` leaves the catalog to the caller (ingestion appends many
        pieces, then refreshes the metadata once).
        """
        self._created_file().append(data)
        if reindex:
            self.reindexData()
        return self.getSize()

    security.declarePrivate("noteIngested")

    def noteIngested(self) -> None:
        """After ingestion appended: date the stream, and refresh its catalog record now
        when no other server writes this database, else by one delayed activity per
        burst, so parallel posts to one stream from several workers do not all write the
        stream's catalog record (where they conflicted)."""
        self.notifyModified()
        if not _other_servers_write():
            catalog = self._getCatalogTool()
            if catalog is not None:
                catalog.reindexObject(self, idxs=["id"])  # the metadata record only
            return
        if not self._catalog_pending:
            self._catalog_pending = True
            activate(self, after=CATALOG_DELAY, user_id=None,
                     serialization_tag=f"catalog:{self.getRelativeUrl()}").reindexIngestedData()

    security.declarePrivate("reindexIngestedData")

    def reindexIngestedData(self) -> None:
        """The delayed refresh queued by :meth:`noteIngested`: size and dates, indexes
        included (so sorting by them is current too). Nothing to do when an earlier
        refresh came after every append (two posts may queue one each)."""
        if not self._catalog_pending:
            return
        self._catalog_pending = False
        catalog = self._getCatalogTool()
        if catalog is not None:
            known = set(catalog.indexes())
            catalog.reindexObject(self, idxs=[i for i in self.DATA_INDEXES if i in known])
            # CMF queues the reindex until the thread's default transaction commits, and
            # activities commit with their own transaction manager: apply it now.
            from Products.CMFCore.indexing import processQueue

            processQueue()

    security.declarePrivate("appendFile")

    def appendFile(self, path: str, size: int, reindex: bool = True) -> int:
        """Append the whole file at ``path`` (``size`` bytes) by adopting it as a blob
        (no copy: uploads spooled by ``uploads_wsgi``); returns the new size."""
        self._created_file().append_file(path, size)
        if reindex:
            self.reindexData()
        return self.getSize()

    @security.protected(ModifyPortalContent)
    @zpublish(False)
    def setData(self, data) -> None:
        """Replace the whole content (reindexed: size, date)."""
        bigfile = self._created_file()
        bigfile.truncate(0)
        if data:
            bigfile.write(0, data)
        self.reindexData()

    @security.protected(View)
    @zpublish(False)
    def iterate(
        self, start: int = 0, end: int | None = None, chunk_size: int | None = None
    ) -> Iterator[bytes]:
        """Yield the bytes of ``[start, end)`` chunk by chunk."""
        bigfile = self._getFile()
        if bigfile is None:
            return iter(())
        return bigfile.iterate(start, end, chunk_size)

    @security.protected(View)
    @zpublish(False)
    def readChunkList(self, start: int = 0, end: int | None = None) -> list[bytes]:
        """The chunks of ``[start, end)`` as a list (ERP5's ``readChunkList``)."""
        end = self.getSize() if end is None else end
        check_copy(max(0, end - start), "readChunkList()", "use iterate() instead")
        return list(self.iterate(start, end))

    @security.protected(View)
    @zpublish(False)
    def open(self) -> BigFileReader:
        """A seekable read-only binary file over the stream, read on demand."""
        return BigFileReader(self._file if self._file is not None else ZBigFile())

    @security.protected(View)
    @zpublish(False)
    def getArrayView(self, dtype="uint8", offset: int = 0) -> np.ndarray:
        """A lazily mapped read-only ndarray over the stream's bytes from ``offset`` (for a
        skin script, the type restricted code may read)."""
        return _readonly(self._array_view(dtype, offset))

    def _array_view(self, dtype: Any, offset: int) -> np.ndarray:
        """:meth:`getArrayView` for trusted callers."""
        dtype = check_dtype(dtype)
        size = self.getSize()
        if isinstance(offset, bool) or not isinstance(offset, (int, np.integer)):
            raise BigFileError(f"offset must be an integer, got {offset!r}")
        if offset < 0 or offset > size:
            raise BigFileError(f"offset {offset} is outside the stream of {size} bytes")
        count = (size - offset) // dtype.itemsize
        if count == 0:
            return np.zeros(0, dtype)
        nbytes = count * dtype.itemsize
        file = self._file
        assert file is not None  # a stream with bytes has its file
        if not file.mappable():
            # Concurrent appends merged and not folded yet: their runs are not at block
            # boundaries of their files, so this view is a copy (within the budget).
            check_copy(nbytes, "getArrayView() of a stream with merged appends",
                       "read it piecewise with iterate()")
            buffer = bytearray(nbytes)
            file.readinto(offset, buffer)
            return np.frombuffer(bytes(buffer), dtype=dtype)
        view = map_range(self._file, offset, nbytes)
        return np.frombuffer(view, dtype=dtype)

    # -- HTTP (the edge's handlers, ``http/streams.py``) -------------------------------------
    security.declarePrivate("streamBody", "replaceWith", "appendBlocks", "appendSpooledFile")

    def streamBody(self) -> tuple[int, Any]:
        """The size, and a function giving the bytes ``[start, end)`` from the blob files."""
        file = self._file
        if file is None:
            return 0, lambda start, end: iter(())
        return self.getSize(), lambda start, end: read_segments(file.segments(start, end))

    def replaceWith(self, content_type: str | None) -> None:
        """Empty the stream for a new body (of ``content_type``, validated, if given)."""
        if content_type:
            self.content_type = check_content_type(content_type)
        self._created_file().truncate(0)

    def appendBlocks(self, copy: Any) -> int:
        """Append what ``copy(write)`` writes; returns the bytes appended."""
        return copy(self._created_file().append)

    def appendSpooledFile(self, path: str, size: int) -> int:
        """Adopt a body spooled into the blob directory as the stream's next bytes."""
        check_free_disk(os.path.dirname(path), 0, "a PUT")
        self.appendFile(path, size, reindex=False)
        return size

    @security.protected(View)
    def index_html(self, REQUEST, RESPONSE):
        """GET streams the bytes, inert (``Range`` answers 206); HEAD gives the size."""
        return http_answer(self, REQUEST)

    @security.protected(View)
    def HEAD(self, REQUEST, RESPONSE):
        """The size and type, without the bytes."""
        return http_answer(self, REQUEST)

    @security.protected(ModifyPortalContent)
    def PUT(self, REQUEST, RESPONSE):
        """Replace the content, or append with ``Content-Range: bytes a-b/*`` (a = size)."""
        return http_answer(self, REQUEST, "PUT")


InitializeClass(DataStream)


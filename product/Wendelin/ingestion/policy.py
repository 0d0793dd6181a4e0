"""Ingestion Policy: where posted data goes, and in which format it arrives.

``POST <policy>/ingest?reference=<tag>`` appends to the tag's Data Stream: with a
``data_supply`` (a Data Supply's relative URL, as real Wendelin), the ``out_stream`` of the
supply's started Data Ingestion for the tag (:mod:`.supply`); without one, the stream whose
reference is the tag (created on first use). ``data_format`` is ``raw`` (the body byte for
byte; ``strict_msgpack`` refuses a body that is not whole msgpack objects) or ``fluentd``
(a msgpack stream of ``[timestamp, data]`` entries whose data is appended, decoded). The
shipped ``default`` policy is raw, strict, on ``data_supply_module/default``. Bodies are
read block by block. A malformed body or any failure aborts the transaction: nothing is
appended. An optional Data Operation (``transform_operation``) then turns what arrived
into a Data Array.
A request carrying a request id (``Idempotency-Key``) is applied at most once per tag
(:mod:`.replay`), so a client may retry a post whose answer it never got.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from AccessControl.class_init import InitializeClass
from AccessControl.SecurityInfo import ClassSecurityInfo
from BTrees.OOBTree import OOBTree
from ZPublisher import zpublish

from ..analysis.documents import storage_directory
from ..document.base import WendelinDocument, find_by_reference, http_answer
from ..errors import WendelinError
from ..inputs import check_free_disk
from ..locks import serialise_transaction
from ..permissions import ModifyPortalContent, View
from .fluentd import iter_entries, iter_whole_objects
from .replay import AppliedRequests

FORMATS = ("fluentd", "raw")
BLOCK = 1 << 20
STREAM_MODULE = "data_stream_module"


class IngestionPolicyError(WendelinError, ValueError):
    """A policy that cannot ingest: unknown format, missing transform, bad reference."""


class IngestionPolicy(WendelinDocument):
    """Maps tags to Data Streams (directly, or through a Data Supply's ingestions) and
    appends what is posted to them."""

    meta_type = "Wendelin Ingestion Policy"
    portal_type = "Ingestion Policy"
    security = ClassSecurityInfo()
    property_types = {
        **WendelinDocument.property_types,
        "data_format": str,
        "transform_operation": str,
        "data_supply": str,
        "strict_msgpack": bool,
    }
    data_format = "fluentd"
    transform_operation = ""
    data_supply = ""  # relative URL of the Data Supply fed ('' for none)
    strict_msgpack = False  # raw bodies must be whole msgpack objects
    _streams: OOBTree | None = None
    _transformed: OOBTree | None = None
    _applied: OOBTree | None = None  # tag -> AppliedRequests

    def __init__(self, id: str, **properties: Any) -> None:
        super().__init__(id, **properties)
        # Made here, not on first use: parallel first posts then write only the BTrees
        # (which merge different tags) and never both replace the policy's attribute.
        self._streams = OOBTree()
        self._transformed = OOBTree()
        self._applied = OOBTree()

    @security.protected(View)
    def getDataFormat(self) -> str:
        return self.data_format

    @security.protected(View)
    def getDataSupply(self) -> str:
        """The relative URL of the Data Supply this policy feeds ('' for none)."""
        return self.data_supply

    @security.protected(View)
    def getDataSupplyValue(self) -> Any:
        """The Data Supply this policy feeds, or None."""
        if not self.data_supply:
            return None
        try:
            return self.getPortalObject().unrestrictedTraverse(self.data_supply)
        except (KeyError, AttributeError):
            return None

    def _stream_for(self, tag: str) -> Any:
        """The tag's Data Stream: recorded, else the supply's ingestion's (with a supply),
        else found by reference, else created."""
        if self._streams is None:
            self._streams = OOBTree()
        module = getattr(self.getPortalObject(), STREAM_MODULE)
        stream_id = self._streams.get(tag)
        if stream_id is not None and module._getOb(stream_id, None) is not None:
            return module._getOb(stream_id)
        if self.data_supply:
            from .supply import ingestion_stream

            supply = self.getDataSupplyValue()
            if supply is None:
                raise IngestionPolicyError(
                    f"policy {self.getId()!r} feeds a missing Data Supply: {self.data_supply!r}")
            stream = ingestion_stream(supply, tag)
            # Recorded as below: parallel first posts of a tag conflict here and one is
            # retried, finding the ingestion made by the other.
            self._streams[tag] = stream.getId()
            return stream
        stream = find_by_reference(self, tag, "Data Stream")
        if stream is None:
            stream = module.newContent(
                portal_type="Data Stream", reference=tag, title=f"Ingested: {tag}"
            )
        # Recording the tag makes two first uses in parallel conflict (one is retried
        # and finds this stream) instead of creating two streams.
        if self._streams.get(tag) != stream.getId():
            self._streams[tag] = stream.getId()
        return stream

    def _append(self, stream: Any, chunks: Iterator[bytes]) -> int:
        """Append the body in this policy's format; return the bytes appended."""
        if self.data_format == "raw":
            pieces: Any = iter_whole_objects(chunks) if self.strict_msgpack else chunks
        elif self.data_format == "fluentd":
            pieces = iter_entries(chunks)
        else:
            raise IngestionPolicyError(
                f"policy {self.getId()!r} has unknown data_format {self.data_format!r} "
                f"(known: {', '.join(FORMATS)})"
            )
        appended = 0
        for piece in pieces:
            if piece:
                stream.appendData(piece, reindex=False)
                appended += len(piece)
        if appended:
            stream.noteIngested()
        return appended

    def _transform(self, stream: Any, tag: str) -> None:
        """Run the attached Data Operation over what arrived since its last run."""
        if not self.transform_operation:
            return
        operation = find_by_reference(self, self.transform_operation, "Data Operation")
        if operation is None:
            raise IngestionPolicyError(
                f"policy {self.getId()!r} names no existing Data Operation: "
                f"{self.transform_operation!r}"
            )
        if self._transformed is None:
            self._transformed = OOBTree()
        start = self._transformed.get(tag, 0)
        run = operation.execute(stream, start=start, end=stream.getSize())
        run.raise_for_status()
        self._transformed[tag] = start + int(run.result or 0)

    @security.protected(ModifyPortalContent)
    @zpublish(methods="POST")
    def ingest(self, REQUEST, reference: str | None = None):
        """Append the posted body to the tag's Data Stream (fluentd's HTTP output; the
        edge's handler reads the request, ``http/ingest.py``)."""
        return http_answer(self, REQUEST, "ingest")

    security.declarePrivate("ingestChunks")

    def ingestChunks(self, tag: str, chunks: Iterator[bytes], request_id: str | None,
                     announced: int) -> bool:
        """Append ``chunks`` in this policy's format to ``tag``'s stream, once per
        ``request_id``; False when an earlier try with that id was applied (a replay).

        ``announced`` is the body's announced length, checked against the free-disk quota.
        """
        serialise_transaction(("ingest", self.getPhysicalPath(), tag))
        if request_id is not None and self._was_applied(tag, request_id):
            return False  # applied by an earlier try whose answer was lost: same answer
        check_free_disk(storage_directory(self), announced, f"ingesting into {tag!r}")
        stream = self._stream_for(tag)
        self._append(stream, chunks)
        self._transform(stream, tag)
        if request_id is not None:
            self._record_applied(tag, request_id)
        return True

    def _was_applied(self, tag: str, request_id: str) -> bool:
        """Whether a committed request with this id already appended to ``tag``."""
        applied = self._applied.get(tag) if self._applied is not None else None
        return applied is not None and request_id in applied

    def _record_applied(self, tag: str, request_id: str) -> None:
        """Remember the id in this transaction, so it commits or aborts with the append."""
        if self._applied is None:
            self._applied = OOBTree()
        applied = self._applied.get(tag)
        if applied is None:
            applied = self._applied[tag] = AppliedRequests()
        applied.add(request_id)

    @security.protected(View)
    @zpublish(False)
    def getStreamIdMap(self) -> dict[str, str]:
        """``{tag: Data Stream id}`` of the tags ingested so far."""
        return dict(self._streams.items()) if self._streams is not None else {}

    @security.protected(View)
    def status_json(self, REQUEST=None) -> str:
        """JSON ``{tag: {id, url, size}}`` of the streams this policy fed (for operators)."""
        module = getattr(self.getPortalObject(), STREAM_MODULE)
        status = {}
        for tag, stream_id in self.getStreamIdMap().items():
            stream = module._getOb(stream_id, None)
            if stream is not None:
                status[tag] = {
                    "id": stream_id,
                    "url": stream.absolute_url(),
                    "size": stream.getSize(),
                }
        if REQUEST is not None:  # published: a JSON answer
            REQUEST.RESPONSE.setHeader("Content-Type", "application/json")
        return json.dumps(status)


InitializeClass(IngestionPolicy)

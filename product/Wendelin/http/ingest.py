"""POST ``ingest`` on an ingestion policy: fluentd's HTTP output (and ERP5's ``data_chunk``).

The tag is the ``reference`` query parameter; the body (or, for older fluentd, the
``data_chunk`` form field, a file or text) is read in blocks and handed to the policy,
which appends it in its format to the tag's Data Stream. A client's request id
(``Idempotency-Key``) makes a retried post a replay: 204 with ``Idempotency-Replayed``.
Errors of the body, the policy or its transform are 400s with nothing stored.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from zExceptions import BadRequest

from ..document.content import read_blocks
from ..document.operation import OperationFailedError
from ..errors import InvalidInputError
from ..ingestion.fluentd import IngestionFormatError
from ..ingestion.policy import BLOCK, IngestionPolicyError
from ..ingestion.replay import request_id_of


def _form_bytes(value: str, charset: str) -> bytes:
    """The bytes a client sent for a text form field.

    Zope decodes field values with the request's charset and ``surrogateescape``, so
    encoding them back the same way gives the exact bytes, binary msgpack included.
    """
    try:
        return value.encode(charset, "surrogateescape")
    except (UnicodeEncodeError, LookupError) as error:
        raise IngestionFormatError(f"data_chunk cannot be read back as bytes: {error}") from None


def _body_length(request: Any) -> int:
    """The body's announced length (0 when unknown), for the free-disk quota."""
    try:
        return max(int(request.get("CONTENT_LENGTH") or 0), 0)
    except ValueError:
        return 0


def _body_chunks(request: Any) -> Iterator[bytes]:
    """The request body in blocks; ``data_chunk`` form field for older fluentd."""
    form_chunk = request.form.get("data_chunk")
    if form_chunk is not None:
        if hasattr(form_chunk, "read"):  # a multipart file upload
            yield from read_blocks(form_chunk, BLOCK)
        elif isinstance(form_chunk, str):
            yield _form_bytes(form_chunk, getattr(request, "charset", None) or "utf-8")
        else:  # data_chunk:int=5000000 would be five million zero bytes
            raise IngestionFormatError(
                f"data_chunk must be text or a file, not {type(form_chunk).__name__}")
        return
    body = request.get("BODYFILE")
    if body is not None:
        yield from read_blocks(body, BLOCK)


class Ingest:
    """Append the posted body to the tag's stream; 204."""

    def __init__(self, policy: Any, request: Any) -> None:
        self.policy = policy
        self.request = request

    def __call__(self) -> str:
        request = self.request
        tag = request.form.get("reference")
        if not tag or not isinstance(tag, str):
            raise BadRequest("ingest needs a 'reference' (the tag) in the query string")
        try:
            request_id = request_id_of(request)
        except InvalidInputError as error:
            raise BadRequest(str(error)) from None
        try:
            applied = self.policy.ingestChunks(tag, _body_chunks(request), request_id,
                                               _body_length(request))
        except (IngestionFormatError, IngestionPolicyError, OperationFailedError) as error:
            raise BadRequest(str(error)) from None
        request.response.setStatus(204)
        if not applied:
            request.response.setHeader("Idempotency-Replayed", "true")
        return ""

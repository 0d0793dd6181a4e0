"""Uploads into Data Streams: a spooled file adopted as a blob, else copied by block.

Through the server, ``uploads_wsgi`` has already written each file of the multipart
body into the blob temporary directory as it was read: the stream adopts that file (a
hard link, no copy). Otherwise (in-process callers) Zope hands a multipart file over
as a temporary file on disk (above a few KiB), so copying it in blocks with
``appendData`` keeps the server's memory bounded by one block whatever the file's size.
Before a byte is stored the free-disk quota is checked (413). Everything is written in
the request's transaction (no intermediate commit), so a refused request, a later file
of a multi-file upload included, leaves no trace.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ..analysis.documents import storage_directory
from ..document.base import find_by_reference
from ..document.content import copy_blocks
from ..inputs import check_free_disk
from ..uploads_wsgi import spooled_for
from .audio import AudioError, audio_info, sniff_content_type

#: Bytes copied per ``appendData`` call (the stream's block size).
BLOCK = 2 << 20
_UNSAFE = re.compile(r"[\x00-\x1f\x7f]")


class UploadError(ValueError):
    """An upload that cannot be stored; the message tells the user what to do."""

    status = 400


class ReferenceTaken(UploadError):
    """Another Data Stream already has the reference."""

    status = 409


@dataclass
class StoredUpload:
    """What an upload became: the stream and what was learnt while storing it."""

    stream: Any
    size: int
    content_type: str
    warning: str = ""
    duration: float | None = None

    def as_dict(self) -> dict[str, Any]:
        """The scripted upload contract's JSON (plus a warning and duration when known)."""
        answer = {
            "id": self.stream.getId(),
            "url": self.stream.absolute_url(),
            "reference": self.stream.getReference(),
            "size": self.size,
            "content_type": self.content_type,
        }
        if self.warning:
            answer["warning"] = self.warning
        if self.duration is not None:
            answer["duration"] = self.duration
        return answer


def file_name(filename: str) -> str:
    """The last part of a browser-sent file name (some send a full Windows path)."""
    name = re.split(r"[\\/]", filename or "")[-1]
    return _UNSAFE.sub("", name).strip()[:200]


def is_file(upload: Any) -> bool:
    """Whether a form value is an uploaded file (an empty file input sends a string)."""
    return hasattr(upload, "read") and hasattr(upload, "seek")


def upload_size(upload: Any) -> int:
    """The size of an uploaded file (Zope spooled it to a seekable temporary file)."""
    upload.seek(0, 2)
    size = upload.tell()
    upload.seek(0)
    return size


def find_stream(module: Any, reference: str):
    """The Data Stream with ``reference`` (the one rule: ``document.base.find_by_reference``)."""
    return find_by_reference(module, reference, "Data Stream")


def store_upload(
    module: Any, upload: Any, reference: str = "", title: str = "", replace: bool = False
) -> StoredUpload:
    """Create (or, with ``replace``, refill) the Data Stream for one uploaded file."""
    if not is_file(upload):
        raise UploadError("No file was sent: choose a file to upload (multipart field 'file').")
    filename = file_name(getattr(upload, "filename", "") or "")
    reference = _UNSAFE.sub("", reference or "").strip()[:200] or filename
    if not reference:
        raise UploadError("The file has no name: give the upload a reference.")
    title = _UNSAFE.sub("", title or "").strip()[:200] or filename or reference
    stream = find_stream(module, reference)
    if stream is not None and not replace:
        raise ReferenceTaken(
            f"The reference {reference!r} is already used by Data Stream "
            f"{stream.getId()!r}: choose another reference, or replace that stream."
        )
    spooled = spooled_for(getattr(module, "REQUEST", None), upload)
    check_free_disk(storage_directory(module), spooled.size if spooled else upload_size(upload),
                    f"uploading {filename or reference!r}")
    if stream is None:
        stream = module.newContent(portal_type="Data Stream", reference=reference, title=title)
    else:
        stream.setData(b"")
        stream.edit(title=title)
    if spooled is not None:
        with open(spooled.path, "rb") as source:
            head = source.read(16)
        stream.appendFile(spooled.path, spooled.size)
        size = spooled.size
    else:
        upload.seek(0)
        head = upload.read(16)
        size = copy_blocks(upload, stream.appendData, BLOCK)
    sniffed = sniff_content_type(head, filename)
    warning, duration, content_type = "", None, "application/octet-stream"
    if sniffed:
        try:
            info = audio_info(stream)
        except AudioError as exc:
            warning = (
                f"{filename or reference} was stored as plain bytes: it is not a readable "
                f"audio file ({str(exc).rstrip('.')})."
            )
        else:
            content_type, duration = sniffed, info.duration
    else:
        warning = (
            f"{filename or reference} was stored as plain bytes: it is not a recognised audio "
            "file (WAV, FLAC or OGG)."
        )
    # Catalog metadata, so listings show the duration without loading the stream.
    stream.audio_duration = duration
    stream.edit(content_type=content_type)
    return StoredUpload(stream, size, content_type, warning, duration)

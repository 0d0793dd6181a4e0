"""Uploads into Data Streams written once, into the file that becomes their blob.

WSGI middleware in front of Zope for ``.../DataStreamModule_upload`` (multipart) and
``PUT`` bodies: the body is parsed as it is read from ``wsgi.input`` and each file's bytes
go straight into a temporary file in the storage's blob temporary directory, which the
stream then adopts as a blob (a rename, not a copy). Zope still authenticates, checks the
origin, the CSRF token and the quota: it gets the same request with each file's content
replaced by a token naming its spooled file (tokens are random and live only in the WSGI
environ, so a client cannot name a file). Files not adopted (a 4xx, an error) are deleted
when the response ends.
"""

from __future__ import annotations

import io
import os
import secrets
import tempfile
from dataclasses import dataclass
from typing import Any

#: The WSGI environ key of a body spooled into the blob directory (read by the handlers).
SPOOLED_BODY = "wendelin.spooled_body"


#: The environ key: token -> :class:`Spooled`.
SPOOLED = "wendelin.spooled_uploads"
#: The environ key of a multipart body that could not be parsed (the message).
BODY_ERROR = "wendelin.upload_body_error"
TOKEN_PREFIX = b"wendelin-spooled:"
CHUNK = 1 << 20
#: PUT bodies smaller than this are left to Zope.
PUT_THRESHOLD = 1 << 20
_TEXT_FIELD_LIMIT = 1 << 20


@dataclass
class Spooled:
    """One file's bytes, written to ``path`` (in the blob temporary directory)."""

    path: str
    size: int
    filename: str
    content_type: str


def spool_directory() -> str | None:
    """The storage's temporary directory for new blobs, or None (no blob storage)."""
    try:
        import Zope2

        storage = Zope2.DB.storage
        return storage.temporaryDirectory()
    except Exception:  # noqa: BLE001 - no database yet, or a storage without blobs
        return None


def spooled_for(request: Any, upload: Any) -> Spooled | None:
    """The spooled file an uploaded form value stands for (None: an ordinary upload)."""
    table = request.environ.get(SPOOLED) if request is not None else None
    if not table or not hasattr(upload, "read"):
        return None
    upload.seek(0)
    token = upload.read(len(TOKEN_PREFIX) + 64)
    upload.seek(0)
    if token.startswith(TOKEN_PREFIX):
        return table.get(token)
    return None


def _free_disk_ok(directory: str, needed: int) -> bool:
    from .errors import QuotaExceededError
    from .inputs import check_free_disk

    try:
        check_free_disk(directory, needed, "an upload")
    except QuotaExceededError:
        return False
    return True


class _Cleanup:
    """The response iterable, deleting spooled files nobody adopted when it closes."""

    def __init__(self, result: Any, paths: list[str]) -> None:
        self.result = result
        self.paths = paths

    def __iter__(self):
        return iter(self.result)

    def close(self) -> None:
        try:
            close = getattr(self.result, "close", None)
            if close is not None:
                close()
        finally:
            for path in self.paths:
                try:
                    os.unlink(path)
                except FileNotFoundError:
                    pass


def _part(boundary: bytes, headers: list[tuple[str, str]], body: bytes) -> bytes:
    lines = b"".join(f"{k}: {v}\r\n".encode() for k, v in headers)
    return b"--" + boundary + b"\r\n" + lines + b"\r\n" + body + b"\r\n"


class SpooledUploads:
    """WSGI middleware: stream upload bodies into blob temporary files (see module)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        method = environ.get("REQUEST_METHOD", "")
        try:
            length = int(environ.get("CONTENT_LENGTH") or -1)
        except ValueError:
            length = -1
        paths: list[str] = []
        try:
            if (
                method == "POST"
                and environ.get("PATH_INFO", "").endswith("/DataStreamModule_upload")
                and environ.get("CONTENT_TYPE", "").lower().startswith("multipart/form-data")
                and length > 0
            ):
                self._spool_multipart(environ, length, paths)
            elif method == "PUT" and length >= PUT_THRESHOLD:
                self._spool_put(environ, length, paths)
        except BaseException:
            for path in paths:
                _unlink(path)
            raise
        if not paths:
            return self.app(environ, start_response)
        try:
            result = self.app(environ, start_response)
        except BaseException:
            for path in paths:
                _unlink(path)
            raise
        return _Cleanup(result, paths)

    # -- multipart -------------------------------------------------------------------
    def _spool_multipart(self, environ: dict[str, Any], length: int, paths: list[str]) -> None:
        from multipart import MultipartError, PushMultipartParser, parse_options_header

        directory = spool_directory()
        if directory is None or not _free_disk_ok(directory, length):
            return  # Zope's own path answers (and refuses past the quota with 413)
        _, options = parse_options_header(environ["CONTENT_TYPE"])
        boundary = options.get("boundary", "")
        if not boundary:
            return
        source = environ["wsgi.input"]
        out = secrets.token_hex(16).encode()
        parts: list[bytes] = []
        table: dict[bytes, Spooled] = {}
        try:
            with PushMultipartParser(boundary, content_length=length) as parser:
                segment, target, remaining = None, None, length
                text: list[bytes] = []
                target_path = ""
                while not parser.closed:
                    chunk = source.read(min(CHUNK, remaining)) if remaining > 0 else b""
                    remaining -= len(chunk)
                    for event in parser.parse(chunk):
                        if event is None:
                            parts.append(
                                self._finish(segment, target, target_path, text, out, table)
                            )
                            segment, target, text = None, None, []
                        elif isinstance(event, bytes | bytearray | memoryview):
                            if target is not None:
                                target.write(event)
                            else:
                                text.append(bytes(event))
                                if sum(map(len, text)) > _TEXT_FIELD_LIMIT:
                                    raise MultipartError("a form field is larger than 1 MiB")
                        else:
                            segment = event
                            if segment.filename is not None:
                                fd, target_path = tempfile.mkstemp(
                                    prefix="wendelin-up-", dir=directory
                                )
                                paths.append(target_path)
                                target = io.FileIO(fd, "wb", closefd=True)
                    if not chunk and not parser.closed:
                        raise MultipartError("the body ended before the multipart end")
        except MultipartError as error:
            environ[BODY_ERROR] = f"The upload's body is not valid multipart: {error}"
            parts = []
            table = {}
        body = b"".join(parts) + b"--" + out + b"--\r\n"
        environ[SPOOLED] = table
        environ["CONTENT_TYPE"] = f"multipart/form-data; boundary={out.decode()}"
        environ["CONTENT_LENGTH"] = str(len(body))
        environ["wsgi.input"] = io.BytesIO(body)

    @staticmethod
    def _finish(segment: Any, target: Any, path: str, text: list[bytes], out: bytes,
                table: dict[bytes, Spooled]) -> bytes:
        """The rewritten part of one segment (a file becomes its token)."""
        disposition = f'form-data; name="{segment.name}"'
        if segment.filename is None:
            return _part(out, [("Content-Disposition", disposition)], b"".join(text))
        size = target.tell()
        target.close()
        token = TOKEN_PREFIX + secrets.token_hex(32).encode()
        content_type = segment.content_type or "application/octet-stream"
        table[token] = Spooled(path, size, segment.filename, content_type)
        filename = segment.filename.replace('"', "%22").replace("\r", "").replace("\n", "")
        return _part(out, [
            ("Content-Disposition", f'{disposition}; filename="{filename}"'),
            ("Content-Type", "application/octet-stream"),
        ], token)

    # -- PUT -------------------------------------------------------------------------
    def _spool_put(self, environ: dict[str, Any], length: int, paths: list[str]) -> None:
        directory = spool_directory()
        if directory is None or not _free_disk_ok(directory, length):
            return
        source = environ["wsgi.input"]
        fd, path = tempfile.mkstemp(prefix="wendelin-put-", dir=directory)
        paths.append(path)
        written = 0
        with io.FileIO(fd, "wb", closefd=True) as target:
            while written < length:
                chunk = source.read(min(CHUNK, length - written))
                if not chunk:
                    break
                target.write(chunk)
                written += len(chunk)
        environ[SPOOLED_BODY] = Spooled(path, written, "", environ.get("CONTENT_TYPE", ""))
        # Zope and any other PUT handler still read the body (from the spooled file).
        environ["wsgi.input"] = open(path, "rb")  # noqa: SIM115 - closed with the request
        environ["CONTENT_LENGTH"] = str(written)


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass

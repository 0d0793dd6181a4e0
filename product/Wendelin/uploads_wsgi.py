"""Uploads into Data Streams written once, into the file that becomes their blob.

WSGI middleware in front of Zope for ``.../DataStreamModule_upload`` (multipart) and
``PUT`` bodies: the body is parsed as it is read from ``wsgi.input`` and each file's bytes
go straight into a temporary file in the storage's blob temporary directory, which the
stream then adopts as a blob (a rename, not a copy). Zope still authenticates, checks the
origin, the CSRF token and the quota: it gets the same request with each file's content
replaced by a token naming its spooled file (tokens are random and live only in the WSGI
environ, so a client cannot name a file). Files not adopted (a 4xx, an error) are deleted
when the response ends.

A large or chunked PUT body is not even copied once: ``wendelin run`` gives waitress a
channel (:func:`body_channel`) whose buffer for such a body is an anonymous file
(``O_TMPFILE``) in the blob temporary directory, written as the bytes arrive (refused
with 413 from the headers, or as it grows, when the blob disk would keep less than its
free share); this layer gives that very file a name there (``linkat``) and the stream
adopts it. A body that never completes goes with its connection and, having no name,
leaves nothing behind.
"""

from __future__ import annotations

import io
import os
import secrets
import tempfile
from dataclasses import dataclass
from typing import Any

from waitress.channel import HTTPChannel
from waitress.parser import HTTPRequestParser
from waitress.receiver import ChunkedReceiver, FixedStreamReceiver
from waitress.utilities import RequestEntityTooLarge

#: The WSGI environ key of a body spooled into the blob directory (read by the handlers).
SPOOLED_BODY = "wendelin.spooled_body"


#: The environ key: token -> :class:`Spooled`.
SPOOLED = "wendelin.spooled_uploads"
#: The environ key of a file this layer opened for the request (closed with the response).
_OPENED = "wendelin.spooled_reader"
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

    def __init__(self, result: Any, paths: list[str], opened: Any = None) -> None:
        self.result = result
        self.paths = paths
        self.opened = opened

    def __iter__(self):
        return iter(self.result)

    def close(self) -> None:
        try:
            close = getattr(self.result, "close", None)
            if close is not None:
                close()
        finally:
            if self.opened is not None:
                self.opened.close()
            for path in self.paths:
                _unlink(path)


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
            _Cleanup((), paths, environ.get(_OPENED)).close()
            raise
        if not paths:
            return self.app(environ, start_response)
        try:
            result = self.app(environ, start_response)
        except BaseException:
            _Cleanup((), paths, environ.get(_OPENED)).close()
            raise
        return _Cleanup(result, paths, environ.get(_OPENED))

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
        if directory is None:
            return
        source = environ["wsgi.input"]
        content_type = environ.get("CONTENT_TYPE", "")
        if isinstance(source, BodyFile) and source.holds(directory, length):
            # waitress wrote the body into the blob directory: name that file, no copy
            # (the free disk was checked before it was written, and is at the adoption).
            path = source.link_into(directory)
            paths.append(path)
            environ[SPOOLED_BODY] = Spooled(path, length, "", content_type)
            return  # Zope may still read the body: wsgi.input is that file, at its start
        if not _free_disk_ok(directory, length):
            return
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
        environ[SPOOLED_BODY] = Spooled(path, written, "", content_type)
        # Zope and any other PUT handler still read the body (from the spooled file).
        reader = open(path, "rb")  # noqa: SIM115 - closed with the response (_Cleanup)
        environ["wsgi.input"] = reader
        environ[_OPENED] = reader
        environ["CONTENT_LENGTH"] = str(written)


# -- waitress: large PUT bodies buffered in the blob directory ---------------------------
class BodyFile(io.FileIO):
    """A request body in an anonymous file of ``directory``: what the app reads as
    ``wsgi.input``, and what a PUT handler can adopt by naming it (:meth:`link_into`)."""

    directory = ""

    def holds(self, directory: str, length: int) -> bool:
        """Whether this is a complete body of ``length`` bytes in ``directory``."""
        return (not self.closed and self.directory == directory
                and os.fstat(self.fileno()).st_size == length)

    def link_into(self, directory: str) -> str:
        """Give the file a new unique name in ``directory`` (same file, no copy)."""
        # linkat(AT_SYMLINK_FOLLOW) of /proc/self/fd/N: os.link uses it with a dir_fd
        # (plain link(2) would try to link the /proc symlink itself).
        where = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            while True:
                name = f"wendelin-put-{secrets.token_hex(8)}"
                try:
                    os.link(f"/proc/self/fd/{self.fileno()}", name, dst_dir_fd=where,
                            follow_symlinks=True)
                except FileExistsError:
                    continue
                return os.path.join(directory, name)
        finally:
            os.close(where)


class BlobDirectoryBody:
    """waitress's buffer for one large request body: the bytes go straight into an
    anonymous file in the blob temporary directory (pwrite, no buffering in memory)."""

    def __init__(self, file: BodyFile) -> None:
        self.file = file
        self.size = 0

    @classmethod
    def create(cls, directory: str) -> BlobDirectoryBody | None:
        """A buffer in ``directory``, or None where anonymous files are not supported."""
        try:
            fd = os.open(directory, os.O_TMPFILE | os.O_RDWR | os.O_CLOEXEC, 0o600)
        except (OSError, AttributeError):
            return None
        file = BodyFile(fd, "r+b", closefd=True)
        file.directory = directory
        return cls(file)

    def __len__(self) -> int:
        return self.size

    def __bool__(self) -> bool:
        return True

    def append(self, data: bytes) -> None:
        view = memoryview(data)
        fd = self.file.fileno()
        while view:
            written = os.pwrite(fd, view, self.size)
            self.size += written
            view = view[written:]

    def getfile(self) -> BodyFile:
        return self.file

    def close(self) -> None:
        self.file.close()


#: A chunked body in the blob directory is checked against the free disk this often.
CHUNKED_CHECK = 64 << 20


class _CheckedChunks(ChunkedReceiver):
    """A chunked body into a :class:`BlobDirectoryBody`, refused (413, the connection
    closed, the anonymous file gone) once the blob disk would keep less than its share."""

    checked = 0

    def received(self, data: bytes) -> int:
        from .errors import QuotaExceededError
        from .inputs import check_free_disk

        consumed = super().received(data)
        size = len(self.buf)
        if size - self.checked >= CHUNKED_CHECK and not getattr(self, "error", None):
            self.checked = size
            try:
                check_free_disk(self.buf.file.directory, 0, "a PUT")
            except QuotaExceededError as refused:
                self.error = RequestEntityTooLarge(str(refused))
        return consumed


class _BodyParser(HTTPRequestParser):
    """waitress's request parser, buffering a large or chunked PUT body in the blob
    directory."""

    body_directory = ""

    def parse_header(self, header_plus: bytes) -> None:
        super().parse_header(header_plus)
        if self.command != "PUT" or not self.body_directory:
            return
        if self.chunked:  # size unknown: checked as it grows, and at the adoption
            buffer = BlobDirectoryBody.create(self.body_directory)
            if buffer is not None:
                self.body_rcv = _CheckedChunks(buffer)
        elif self.content_length >= PUT_THRESHOLD:
            from .errors import QuotaExceededError
            from .inputs import check_free_disk

            try:  # the body would land on the blob disk: refused before a byte is written
                check_free_disk(self.body_directory, self.content_length, "a PUT")
            except QuotaExceededError as refused:
                self.error = RequestEntityTooLarge(str(refused))
                self.completed = True
                self.expect_continue = False  # no "100 Continue": it would read the body
                return
            buffer = BlobDirectoryBody.create(self.body_directory)
            if buffer is not None:
                self.body_rcv = FixedStreamReceiver(self.content_length, buffer)


def body_channel(directory: str) -> type[HTTPChannel]:
    """The channel class a waitress server uses so large PUT bodies are buffered in
    ``directory`` (the storage's blob temporary directory), ready to be adopted."""
    parser = type("BlobBodyParser", (_BodyParser,), {"body_directory": directory})
    # A body cut off by its client is dropped with its channel: the file, nameless, goes.
    return type("BlobBodyChannel", (HTTPChannel,), {"parser_class": parser})


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass

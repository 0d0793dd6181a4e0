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

That channel also judges every large body (over ANONYMOUS_BODY_LIMIT, any method) by its
headers, before a byte of it is buffered: without credentials it is a 401, and it is a 413
if the disk it lands on would keep less than its free share once it and what the bodies in
flight still have to send are written (:class:`BodiesInFlight`, one per server).
"""

from __future__ import annotations

import io
import os
import re
import secrets
import tempfile
import threading
import weakref
from dataclasses import dataclass
from typing import Any

from waitress.channel import HTTPChannel
from waitress.parser import HTTPRequestParser
from waitress.receiver import ChunkedReceiver, FixedStreamReceiver
from waitress.utilities import BadRequest, RequestEntityTooLarge

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


def _disk_refusal(directory: str, needed: int, what: str) -> str | None:
    """Why writing ``needed`` more bytes into ``directory`` would take the disk below
    WENDELIN_MIN_FREE_DISK (the quota's message), or None when it fits."""
    from .errors import QuotaExceededError
    from .inputs import check_free_disk

    try:
        check_free_disk(directory, needed, what)
    except QuotaExceededError as refused:
        return str(refused)
    return None


def _free_disk_ok(directory: str, needed: int) -> bool:
    return _disk_refusal(directory, needed, "an upload") is None


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


#: A chunked body is checked against the free disk this often.
CHUNKED_CHECK = 64 << 20
#: A request body larger than this needs credentials (an Authorization header or a
#: session cookie), else it is a 401 from its headers: nothing of it is buffered.
ANONYMOUS_BODY_LIMIT = 1 << 20


class Unauthorized(BadRequest):
    """waitress's answer to a large body sent without any credentials (it would be a 401
    from Zope too, once the whole body had been buffered)."""

    code = 401
    reason = "Unauthorized"

    def to_response(self, ident: str | None = None) -> tuple[str, list[tuple[str, str]], bytes]:
        status, headers, body = super().to_response(ident)
        return status, [*headers, ("WWW-Authenticate", 'Basic realm="Zope"')], body


def has_credentials(headers: dict[str, str], cookie: str) -> bool:
    """Whether waitress's ``headers`` carry an Authorization header or the site's session
    ``cookie`` (valid or not: Zope decides; this only tells anonymous bodies apart)."""
    if headers.get("AUTHORIZATION", "").strip():
        return True
    for pair in re.split(r"[;,]", headers.get("COOKIE", "")):
        name, sep, value = pair.strip().partition("=")
        if sep and name == cookie and value.strip():
            return True
    return False


class BodiesInFlight:
    """The large bodies one server is receiving: a new one is admitted only if its size,
    plus what the others on the same disk have announced and not yet sent, leaves the
    disk its free share (the check per request alone let concurrent bodies go past it)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.bodies: weakref.WeakSet[_BodyParser] = weakref.WeakSet()

    def outstanding(self, device: int, but: Any = None) -> int:
        """Bytes announced and not yet received by the bodies landing on ``device``."""
        return sum(body.outstanding() for body in list(self.bodies)
                   if body is not but and body.device == device)

    def admit(self, body: _BodyParser, directory: str, size: int) -> str | None:
        """Count ``body`` (``size`` bytes into ``directory``); the refusal's text, or None."""
        device = os.stat(directory).st_dev
        with self.lock:
            refused = _disk_refusal(directory, size + self.outstanding(device), "a request body")
            if refused is not None:
                return refused
            body.device = device
            self.bodies.add(body)
        return None

    def grown(self, body: _BodyParser, directory: str) -> str | None:
        """The refusal's text if a body of unknown size has grown past the disk's share
        (counting what the other bodies still have to send), else None."""
        with self.lock:
            return _disk_refusal(directory, self.outstanding(body.device, but=body),
                                 "a request body")

    def release(self, body: _BodyParser) -> None:
        """The request ended or its connection closed: ``body`` counts no more."""
        with self.lock:
            self.bodies.discard(body)


class _CheckedChunks(ChunkedReceiver):
    """A chunked body, refused once it has grown past the disk's share (413, the
    connection closed, its buffer gone), or past ANONYMOUS_BODY_LIMIT without credentials."""

    checked = 0
    anonymous = False
    directory = ""
    parser: Any = None

    def received(self, data: bytes) -> int:
        consumed = super().received(data)
        if getattr(self, "error", None):
            return consumed
        size = len(self.buf)
        if self.anonymous and size > ANONYMOUS_BODY_LIMIT:
            self.error = Unauthorized("a request body this large needs credentials")
        elif size - self.checked >= CHUNKED_CHECK:
            self.checked = size
            refused = self.parser.bodies.grown(self.parser, self.directory)
            if refused:
                self.error = RequestEntityTooLarge(refused)
        return consumed


class _BodyParser(HTTPRequestParser):
    """waitress's request parser: a large body without credentials is a 401 and one the
    disk cannot take a 413, from the headers; a large or chunked PUT body is buffered in
    the blob directory."""

    body_directory = ""
    session_cookie = ""
    bodies: BodiesInFlight
    device = -1

    def outstanding(self) -> int:
        """Bytes of the announced body not received yet (0 for a chunked one: what it has
        received is on the disk already, and is seen as such)."""
        if self.chunked or self.completed:
            return 0
        return max(0, self.content_length - self.body_bytes_received)

    def parse_header(self, header_plus: bytes) -> None:
        super().parse_header(header_plus)
        if not self.chunked and self.content_length < ANONYMOUS_BODY_LIMIT:
            return  # small bodies: waitress keeps them in memory
        anonymous = not has_credentials(self.headers, self.session_cookie)
        if anonymous and not self.chunked:
            return self._refuse(Unauthorized("a request body this large needs credentials"))
        in_blobs = self.command == "PUT" and bool(self.body_directory)
        # where the body lands: the blob directory (PUT), else waitress's temporary files
        directory = self.body_directory if in_blobs else tempfile.gettempdir()
        refused = self.bodies.admit(self, directory, 0 if self.chunked else self.content_length)
        if refused:
            return self._refuse(RequestEntityTooLarge(refused))
        buffer = BlobDirectoryBody.create(directory) if in_blobs else None
        if self.chunked:  # size unknown: checked as it grows, and at the adoption
            waitress_own: Any = getattr(self, "body_rcv")  # noqa: B009 - its ChunkedReceiver
            receiver = _CheckedChunks(buffer if buffer is not None else waitress_own.buf)
            receiver.anonymous, receiver.directory, receiver.parser = anonymous, directory, self
            self.body_rcv = receiver
        elif buffer is not None:
            self.body_rcv = FixedStreamReceiver(self.content_length, buffer)

    def _refuse(self, error: Any) -> None:
        """Answer ``error`` from the headers: not a byte of the body is read (no "100
        Continue") and the connection closes after the answer."""
        self.error = error
        self.completed = True
        self.expect_continue = False
        self.connection_close = True

    def close(self) -> None:
        self.bodies.release(self)
        super().close()


class _BodyChannel(HTTPChannel):
    """waitress's channel: a body cut off by its connection's end counts no more."""

    def handle_close(self) -> None:
        try:
            super().handle_close()
        finally:
            pending = self.request
            if pending is not None and isinstance(pending, _BodyParser):
                pending.bodies.release(pending)


def body_channel(directory: str) -> type[HTTPChannel]:
    """The channel class a waitress server uses so large PUT bodies are buffered in
    ``directory`` (the storage's blob temporary directory, "" for none), ready to be
    adopted, and large bodies are refused from their headers when anonymous or when the
    disk could not take them with the others in flight (counted in its ``bodies``)."""
    from .site.users import SESSION_COOKIE

    bodies = BodiesInFlight()
    parser = type("BlobBodyParser", (_BodyParser,), {
        "body_directory": directory, "session_cookie": SESSION_COOKIE, "bodies": bodies})
    # A body cut off by its client is dropped with its channel: the file, nameless, goes.
    return type("BlobBodyChannel", (_BodyChannel,), {"parser_class": parser, "bodies": bodies})


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass

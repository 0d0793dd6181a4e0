"""A large PUT body is written to disk once, by waitress, into the blob directory, and the
Data Stream adopts that very file; bodies refused or cut off store nothing and leave no file."""

from __future__ import annotations

import base64
import hashlib
import os
import socket
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from functional_server import PASSWORD, Server, written_chars

SIZE = 64 * 1024**2
BLOCK = bytes(range(256)) * 4096  # 1 MiB, a checkable pattern


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    server = Server(tmp_path_factory.mktemp("put-once"))
    server.start()
    yield server
    server.stop()



def open_files(pid: int) -> set[str]:
    """What the process's file descriptors point at (deleted files say so)."""
    found = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            found.add(os.readlink(f"/proc/{pid}/fd/{fd}"))
        except FileNotFoundError:
            pass
    return found


def settled(check, timeout: float = 30) -> bool:
    """Whether ``check()`` becomes true within ``timeout`` seconds (the server closes a
    connection's buffers and deletes files not adopted after the answer is sent)."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def blob_temporary(server: Server) -> Path:
    return server.home / "var" / "blobs" / "tmp"


def new_stream(server: Server, content: bytes) -> str:
    """A Data Stream holding ``content``; its URL."""
    session = server.session()
    made = server.create("data_stream_module", portal_type="Data Stream")
    url = made["url"]
    assert session.put(url, data=content, headers={"Content-Type": "text/plain"}).status_code == 204
    return url


def pattern(size: int) -> bytes:
    return (BLOCK * (size // len(BLOCK) + 1))[:size]


def test_a_put_body_is_written_once_and_its_file_becomes_the_blob(srv):
    """The server writes the body's bytes once (waitress's buffer IS the blob): a copy out
    of waitress's buffer into a spooled file, as before, wrote them twice."""
    url = new_stream(srv, b"before")
    pid, session = srv.process.pid, srv.session()
    body = pattern(SIZE)
    session.put(url, data=b"w" * (2 << 20))  # a first large PUT: its code is loaded
    written = written_chars(pid)
    answer = session.put(url, data=body, headers={"Content-Type": "application/octet-stream"})
    written = written_chars(pid) - written
    assert answer.status_code == 204, answer.text
    assert written < 1.25 * SIZE, f"the server wrote {written / SIZE:.2f} times the body"
    stored = session.get(url)
    assert hashlib.sha256(stored.content).digest() == hashlib.sha256(body).digest()
    assert settled(lambda: not os.listdir(blob_temporary(srv))), os.listdir(blob_temporary(srv))


def test_a_chunked_put_is_written_once_too(srv):
    """A body of unknown size (``Transfer-Encoding: chunked``, as ``curl -T -`` sends) is
    buffered in the blob directory as well, and adopted without a copy."""
    url = new_stream(srv, b"before")
    pid, session = srv.process.pid, srv.session()
    body = pattern(SIZE)
    written = written_chars(pid)
    answer = session.put(url, data=(body[i:i + (1 << 20)] for i in range(0, SIZE, 1 << 20)),
                         headers={"Content-Type": "application/octet-stream"})
    written = written_chars(pid) - written
    assert answer.status_code == 204, answer.text
    assert written < 1.25 * SIZE, f"the server wrote {written / SIZE:.2f} times the body"
    assert hashlib.sha256(session.get(url).content).digest() == hashlib.sha256(body).digest()


def raw_put(server: Server, path: str, headers: dict[str, str], body: bytes,
            announced: int) -> bytes:
    """Send a PUT announcing ``announced`` bytes and send ``body``; a shorter body is cut
    off by closing the connection (b"" then), else the start of the final answer. The
    body waits for ``100 Continue``: a server refusing from the headers answers at once."""
    parts = urlsplit(server.url)
    with socket.create_connection((parts.hostname, parts.port), timeout=60) as sock:
        head = [f"PUT {path} HTTP/1.1", f"Host: {parts.netloc}", "Expect: 100-continue",
                f"Content-Length: {announced}", *(f"{k}: {v}" for k, v in headers.items())]
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
        answer = sock.recv(4096)
        continued = b"HTTP/1.1 100 Continue\r\n\r\n"
        if answer.startswith(continued):
            answer = answer[len(continued):]
        if answer:  # refused from the headers
            return answer
        sock.sendall(body)
        if len(body) < announced:
            sock.shutdown(socket.SHUT_WR)
            return b""
        return sock.recv(4096)


def authorization() -> dict[str, str]:
    token = base64.b64encode(f"zope:{PASSWORD}".encode()).decode()
    return {"Authorization": f"Basic {token}", "Content-Type": "application/octet-stream"}


def test_a_truncated_put_stores_nothing_and_leaves_no_file(srv):
    """A body cut off halfway: the stream keeps its bytes, no file stays in the blob
    directory and the server holds no deleted file open (its anonymous buffer is gone)."""
    url = new_stream(srv, b"kept")
    pid = srv.process.pid
    origin = srv.url.split("/erp5")[0]
    before = open_files(pid)
    answer = raw_put(srv, urlsplit(url).path, {**authorization(), "Origin": origin},
                     pattern(3 << 20), 8 << 20)
    assert answer == b""
    assert settled(lambda: not {f for f in open_files(pid) - before if "(deleted)" in f}), \
        open_files(pid) - before
    assert not os.listdir(blob_temporary(srv))
    assert srv.session().get(url).content == b"kept"


@pytest.mark.parametrize("case", ["anonymous", "foreign origin", "short Content-Range"])
def test_a_refused_put_adopts_nothing(srv, case):
    """Authentication, the origin check and the body's checks come before the buffered
    file is adopted: refused, the stream keeps its bytes and the file is deleted."""
    url = new_stream(srv, b"unchanged")
    pid = srv.process.pid
    origin = srv.url.split("/erp5")[0]
    headers = {**authorization(), "Origin": origin}
    if case == "anonymous":
        del headers["Authorization"]
    elif case == "foreign origin":
        headers["Origin"] = "http://evil.example"
    else:
        headers["Content-Range"] = "bytes 9-99/*"
    before = open_files(pid)
    answer = raw_put(srv, urlsplit(url).path, headers, pattern(4 << 20), 4 << 20)
    status = int(answer.split(b" ", 2)[1])
    assert status in {"anonymous": (401, 403), "foreign origin": (403,),
                      "short Content-Range": (400, 416)}[case], answer[:300]
    assert settled(lambda: not os.listdir(blob_temporary(srv))), os.listdir(blob_temporary(srv))
    assert settled(lambda: not {f for f in open_files(pid) - before if "(deleted)" in f})
    assert srv.session().get(url).content == b"unchanged"


def test_a_put_that_would_fill_the_disk_is_413_before_a_byte_is_buffered(make_server, tmp_path):
    """The body would land on the blob disk: with less free than WENDELIN_MIN_FREE_DISK
    keeps, waitress's parser answers 413 from the headers and nothing is written; a
    small PUT (copied by the handler) is a 413 too, and a chunked one once it has grown."""
    import shutil

    usage = shutil.disk_usage(tmp_path)
    server = make_server(WENDELIN_MIN_FREE_DISK=str(min(0.9, (usage.free + 1024**3) / usage.total)))
    server.start()
    made = server.create("data_stream_module", portal_type="Data Stream")
    pid = server.process.pid
    written = written_chars(pid)
    answer = raw_put(server, urlsplit(made["url"]).path, authorization(), pattern(4 << 20), 4 << 20)
    assert int(answer.split(b" ", 2)[1]) == 413, answer[:300]
    assert written_chars(pid) - written < 1 << 20  # the 4 MiB body was not buffered
    assert not os.listdir(blob_temporary(server))
    # a small PUT, copied rather than buffered in the blob directory, is refused too
    small = server.session().put(made["url"], data=b"s" * (512 << 10),
                                 headers={"Content-Type": "application/octet-stream"})
    assert small.status_code == 413, small.text[:300]
    assert "WENDELIN_MIN_FREE_DISK" in small.text
    assert server.session().get(made["url"]).content == b""
    # a chunked body (no size announced) is refused once it has grown by CHUNKED_CHECK
    pid = server.process.pid
    before = open_files(pid)
    written = written_chars(pid)
    parts = urlsplit(server.url)
    head = (f"PUT {urlsplit(made['url']).path} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
            f"Transfer-Encoding: chunked\r\nAuthorization: {authorization()['Authorization']}"
            "\r\n\r\n").encode()
    chunk = b"100000\r\n" + BLOCK + b"\r\n"
    with socket.create_connection((parts.hostname, parts.port), timeout=60) as sock:
        try:
            sock.sendall(head)
            for _ in range(160):
                sock.sendall(chunk)
            sock.sendall(b"0\r\n\r\n")
            refused = sock.recv(4096)
        except (BrokenPipeError, ConnectionResetError):
            refused = b"HTTP/1.1 413 (the connection was closed)"
    assert b" 413 " in refused[:20], refused[:300]
    assert written_chars(pid) - written < 100 << 20  # not the 160 MiB sent
    assert settled(lambda: not {f for f in open_files(pid) - before if "(deleted)" in f})
    assert not os.listdir(blob_temporary(server))
    assert server.session().get(made["url"]).content == b""

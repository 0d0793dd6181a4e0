"""Round 4 of the outside attack, request bodies (F7, F8): large anonymous bodies are 401s
from their headers, the free-disk quota counts every body in flight and every method, and
a killed server's spooled files do not stay in the blob temporary directory forever."""

from __future__ import annotations

import base64
import shutil
import socket
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from functional_server import PASSWORD, Server, written_chars

GIB = 1 << 30
MIB = 1 << 20



def basic() -> str:
    token = base64.b64encode(f"zope:{PASSWORD}".encode()).decode()
    return f"Basic {token}"


def connect(server: Server) -> socket.socket:
    parts = urlsplit(server.url)
    return socket.create_connection((parts.hostname, parts.port), timeout=30)


def send_head(sock: socket.socket, server: Server, method: str, path: str,
              headers: dict[str, str]) -> None:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {urlsplit(server.url).netloc}",
             *(f"{k}: {v}" for k, v in headers.items())]
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())


def status_of(answer: bytes) -> int:
    assert answer.startswith(b"HTTP/1.1 "), answer[:200]
    return int(answer.split(b" ", 2)[1])


def answer_to_body(server: Server, method: str, path: str, headers: dict[str, str],
                   body: bytes = b"") -> bytes:
    """Send the headers, then ``body`` (what a client sends before it sees any answer);
    the answer's start, read within the socket's timeout (the server answers from the
    headers: it does not wait for the announced bytes)."""
    with connect(server) as sock:
        send_head(sock, server, method, path, headers)
        try:
            if body:
                sock.sendall(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the answer came and the connection closed while the body was sent
        return read_answer(sock)


def read_answer(sock: socket.socket) -> bytes:
    """One whole answer (its head and its Content-Length of body), read within the
    socket's timeout; a leading ``100 Continue`` is an answer of its own."""
    data = b""
    while b"\r\n\r\n" not in data:
        more = sock.recv(65536)
        if not more:
            return data
        data += more
    head, _, body = data.partition(b"\r\n\r\n")
    if head.startswith(b"HTTP/1.1 100 "):
        return head + b"\r\n\r\n"
    length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                   if line.lower().startswith(b"content-length:")), 0)
    while len(body) < length:
        more = sock.recv(65536)
        if not more:
            break
        body += more
    return head + b"\r\n\r\n" + body


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = Server(tmp_path_factory.mktemp("round4-bodies"))
    server.start()
    yield server
    server.stop()


@pytest.mark.parametrize("method,where,content_type", [
    ("PUT", "/erp5/data_stream_module/nothing-here", "application/octet-stream"),
    ("POST", "/erp5/no-such-page", "application/octet-stream"),
    ("POST", "/erp5/portal_ingestion_policies/default/ingest?reference=x.y",
     "application/octet-stream"),
    ("POST", "/erp5/data_stream_module/DataStreamModule_upload",
     "multipart/form-data; boundary=xyz"),
])
def test_a_large_anonymous_body_is_401_from_its_headers(srv: Server, method: str, where: str,
                                                       content_type: str) -> None:
    """1 GiB announced with no Authorization and no session cookie (another cookie is no
    credential): 401 at once, the connection closed, and the body is not buffered."""
    assert srv.process is not None
    pid = srv.process.pid
    before = written_chars(pid)
    answer = answer_to_body(srv, method, where, {
        "Content-Length": str(GIB), "Content-Type": content_type, "Cookie": "other=1"},
        b"\0" * (4 * MIB))
    assert status_of(answer) == 401, answer[:300]
    assert b"www-authenticate: basic" in answer.lower()
    assert b"connection: close" in answer.lower()
    assert written_chars(pid) - before < 2 * MIB


def test_a_large_anonymous_chunked_body_is_401_once_past_the_limit(srv: Server) -> None:
    """No size announced: refused as soon as it has grown past 1 MiB, not buffered on."""
    assert srv.process is not None
    pid = srv.process.pid
    before = written_chars(pid)
    chunk = b"%x\r\n" % (256 << 10) + b"c" * (256 << 10) + b"\r\n"
    with connect(srv) as sock:
        send_head(sock, srv, "POST", "/erp5/no-such-page", {"Transfer-Encoding": "chunked"})
        try:
            for _ in range(64):  # 16 MiB
                sock.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass
        answer = read_answer(sock)
    assert status_of(answer) == 401, answer[:300]
    assert written_chars(pid) - before < 2 * MIB


def answered_by_zope(answer: bytes) -> bool:
    """Whether Zope answered (its header), not waitress's parser from the headers."""
    return b"x-powered-by: zope" in answer.lower() and b"(generated by" not in answer


def test_small_anonymous_bodies_and_ones_with_a_session_cookie_reach_zope(srv: Server) -> None:
    """Only large anonymous bodies are refused early: a small one is Zope's to answer, and
    so is a large one with the session cookie (even one Zope will not accept)."""
    small = answer_to_body(srv, "POST", "/erp5/no-such-page",
                           {"Content-Length": "5", "Content-Type": "text/plain"}, b"hello")
    assert answered_by_zope(small), small[:300]
    large = answer_to_body(srv, "POST", "/erp5/no-such-page", {
        "Content-Length": str(2 * MIB), "Content-Type": "application/octet-stream",
        "Cookie": "a=b; wendelin_session=not-a-session"}, b"\0" * (2 * MIB))
    assert answered_by_zope(large), large[:300]


def test_concurrent_bodies_are_summed_against_the_free_disk(tmp_path: Path) -> None:
    """1 GiB of headroom above WENDELIN_MIN_FREE_DISK: a PUT announcing 700 MiB is let in
    (100 Continue) and, while it is being received, a second one gets 413 from its
    headers; a POST past the disk too; once the first connection is gone, a new one fits."""
    usage = shutil.disk_usage(tmp_path)
    server = Server(tmp_path / "quota", {
        "WENDELIN_MIN_FREE_DISK": str((usage.free - GIB) / usage.total)})
    server.start()
    try:
        made = server.create("data_stream_module", portal_type="Data Stream")
        path = urlsplit(made["url"]).path
        head = {"Authorization": basic(), "Content-Type": "application/octet-stream",
                "Expect": "100-continue", "Content-Length": str(700 * MIB)}
        continued = b"HTTP/1.1 100 Continue\r\n\r\n"
        with connect(server) as first:
            send_head(first, server, "PUT", path, head)
            assert read_answer(first) == continued
            first.sendall(b"\0" * MIB)
            second = answer_to_body(server, "PUT", path, head)
            assert status_of(second) == 413, second[:300]
            assert b"WENDELIN_MIN_FREE_DISK" in second
            tmp_free = shutil.disk_usage(tempfile.gettempdir()).free
            post = answer_to_body(server, "POST", "/erp5/no-such-page", {
                **head, "Content-Length": str(min(tmp_free + GIB, (1 << 40) - 1))})
            assert status_of(post) == 413, post[:300]
        deadline = time.monotonic() + 30
        while True:  # the server sees the first connection closed, and counts it no more
            with connect(server) as third:
                send_head(third, server, "PUT", path, head)
                answer = read_answer(third)
            if answer == continued or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert answer == continued, answer[:300]
    finally:
        server.stop()


def test_run_removes_leftover_blob_temporary_files(tmp_path: Path) -> None:
    """A killed server's spooled uploads and uncommitted blobs are removed (and logged) at
    the next ``wendelin run``, before it serves; the site still serves."""
    server = Server(tmp_path / "leftovers")
    server.start()
    server.stop()
    temporary = server.home / "var" / "blobs" / "tmp"
    leftovers = {"wendelin-up-abc123": 3000, "wendelin-put-def456": 5000, "tmpzodb42": 7}
    for name, size in leftovers.items():
        (temporary / name).write_bytes(b"x" * size)
    (temporary / "keep-dir").mkdir()  # not a file: left alone
    server.start()
    try:
        assert sorted(p.name for p in temporary.iterdir()) == ["keep-dir"]
        assert any("removed 3 leftover files (8007 bytes)" in line for line in server.output)
        assert server.session().get(f"{server.url}/data_stream_module/view").status_code == 200
    finally:
        server.stop()

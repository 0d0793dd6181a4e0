"""A large upload is streamed into the Data Stream: the server's anonymous memory stays flat."""

from __future__ import annotations

import os
import threading
import time

from functional_server import written_chars

#: 256 MiB by default; WENDELIN_TEST_UPLOAD_MIB=1024 checks the 1 GiB of the contract.
UPLOAD = int(os.environ.get("WENDELIN_TEST_UPLOAD_MIB", "256")) * 1024**2
BOUND = 32 * 1024**2


def rss_anon(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no RssAnon for process {pid}")


class MultipartBody:
    """A multipart/form-data body generated on the fly, with a length (no chunking)."""

    boundary = "wendelin-upload-memory-test"

    def __init__(self, size: int, filename: str) -> None:
        self.head = (
            f"--{self.boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
            f"filename=\"{filename}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
        ).encode()
        self.tail = f"\r\n--{self.boundary}--\r\n".encode()
        self.size = size
        self.sent = 0
        self.block = bytes(range(256)) * 4096  # 1 MiB, a checkable pattern
        self.parts = [self.head]

    def __len__(self) -> int:
        return len(self.head) + self.size + len(self.tail)

    def read(self, n: int = -1) -> bytes:
        if self.parts:
            return self.parts.pop()
        if self.sent < self.size:
            piece = self.block[: min(len(self.block), self.size - self.sent)]
            self.sent += len(piece)
            if self.sent == self.size:
                self.parts.append(self.tail)
            return piece
        return b""


def test_large_upload_keeps_the_server_memory_flat(make_server):
    srv = make_server(WENDELIN_MEMORY_BUDGET="64MiB")
    srv.start()
    pid = srv.process.pid
    upload = f"{srv.url}/data_stream_module/DataStreamModule_upload"
    headers = {"Accept": "application/json"}
    # A small upload first: what the first request loads (code, catalog) is not growth.
    warm = srv.session().post(upload, files={"file": ("warm.bin", b"x" * 4096)}, headers=headers)
    assert warm.status_code == 201, warm.text
    baseline = rss_anon(pid)
    peak = [baseline]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], rss_anon(pid))
            time.sleep(0.01)

    sampler = threading.Thread(target=sample)
    sampler.start()
    body = MultipartBody(UPLOAD, "big.bin")
    try:
        answer = srv.session().post(
            upload,
            data=body,
            headers={**headers, "Content-Type": f"multipart/form-data; boundary={body.boundary}"},
            timeout=600,
        )
    finally:
        done.set()
        sampler.join()
    assert answer.status_code == 201, answer.text
    assert answer.json()["size"] == UPLOAD
    print(f"upload of {UPLOAD >> 20} MiB: RssAnon grew by {(peak[0] - baseline) >> 20} MiB")
    assert peak[0] - baseline < BOUND, f"RssAnon grew by {(peak[0] - baseline) >> 20} MiB"
    stored = srv.session().get(answer.json()["url"], headers={"Range": "bytes=1048570-1048581"})
    assert stored.content == (bytes(range(256)) * 4096 * 2)[1048570:1048582]


#: The [Throughput] contract: 2 GiB by multipart and by PUT.
BIG = int(os.environ.get("WENDELIN_TEST_BIG_UPLOAD_MIB", "2048")) * 1024**2


class RawBody(MultipartBody):
    """The same pattern as a bare PUT body."""

    def __init__(self, size: int) -> None:
        super().__init__(size, "unused")
        self.head = self.tail = b""
        self.parts = []



def _expected_sha256(size: int) -> str:
    import hashlib

    digest, block, left = hashlib.sha256(), bytes(range(256)) * 4096, size
    while left:
        digest.update(block[: min(left, len(block))])
        left -= min(left, len(block))
    return digest.hexdigest()


def _stored_sha256(session, url: str) -> str:
    import hashlib

    digest = hashlib.sha256()
    with session.get(url, stream=True, timeout=600) as answer:
        assert answer.status_code == 200
        for chunk in answer.iter_content(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def test_two_gib_multipart_and_put_bounded_and_exact(make_server):
    """A 2 GiB multipart upload and a 2 GiB PUT: the server's anonymous memory grows by
    less than 32 MiB, the PUT's bytes are written once, and the stored bytes have the
    sent bytes' sha256."""
    srv = make_server(WENDELIN_MEMORY_BUDGET="64MiB")
    srv.start()
    pid, session = srv.process.pid, srv.session()
    upload = f"{srv.url}/data_stream_module/DataStreamModule_upload"
    headers = {"Accept": "application/json"}
    warm = session.post(upload, files={"file": ("warm.bin", b"x" * 4096)}, headers=headers)
    assert warm.status_code == 201, warm.text
    target = warm.json()["url"]
    session.put(target, data=b"y" * (2 << 20))  # a first spooled PUT: its code is loaded
    baseline = rss_anon(pid)
    peak = [baseline]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], rss_anon(pid))
            time.sleep(0.02)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        body = MultipartBody(BIG, "two.bin")
        written = written_chars(pid)
        posted = session.post(upload, data=body, timeout=1200, headers={
            **headers, "Content-Type": f"multipart/form-data; boundary={body.boundary}"})
        written = written_chars(pid) - written
        put_written = written_chars(pid)
        put = session.put(target, data=RawBody(BIG), timeout=1200,
                          headers={"Content-Type": "application/octet-stream"})
        put_written = written_chars(pid) - put_written
    finally:
        done.set()
        sampler.join()
    assert posted.status_code == 201, posted.text
    assert put.status_code == 204, put.text
    grown = peak[0] - baseline
    print(f"2 x {BIG >> 20} MiB (multipart, PUT): RssAnon grew by {grown >> 20} MiB")
    assert grown < BOUND, f"RssAnon grew by {grown >> 20} MiB"
    # waitress's buffer, then the file that became the blob: nothing more is written
    # (Zope's multipart parsing and the copy into the stream wrote it twice more).
    assert written < 2.2 * BIG, f"the server wrote {written / BIG:.2f} times the upload"
    # A PUT body is written once, by waitress, into the file that becomes the blob.
    assert put_written < 1.1 * BIG, f"the server wrote {put_written / BIG:.2f} times the PUT"
    expected = _expected_sha256(BIG)
    assert posted.json()["size"] == BIG
    assert _stored_sha256(session, posted.json()["url"]) == expected
    assert _stored_sha256(session, target) == expected

"""Round 3 of the outside attack (cell processes, array HTTP, edge): what got through.

Each test is the request an attacker or a careless client sent to a fresh server, and
the answer the rules of issue 12 and 13 require (HEAD has no body, bad input is a 4xx,
a cell's output cannot swell the server, a cell's reply does not lie about its commit).
"""

from __future__ import annotations

import base64
import http.client
import socket
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

from security_conftest import TALLY, user_name, user_password


def _raw(site, method: str, path: str, role: str, extra: str = "") -> tuple[bytes, bytes]:
    """One request on a fresh connection closed by the server; (head, what follows it)."""
    token = base64.b64encode(f"{user_name(role)}:{user_password(role)}".encode()).decode()
    with socket.create_connection((site.host, site.port), timeout=30) as sock:
        sock.sendall((f"{method} {path} HTTP/1.1\r\nHost: {site.host}:{site.port}\r\n"
                      f"Authorization: Basic {token}\r\nConnection: close\r\n{extra}\r\n").encode())
        data = b""
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    TALLY.tries += 1
    head, _sep, rest = data.partition(b"\r\n\r\n")
    return head, rest


def _path(site, url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def test_head_of_a_page_sends_no_body(site) -> None:
    """HEAD /view answered the whole page after its headers (RFC 9110: HEAD has no body)."""
    head, rest = _raw(site, "HEAD", _path(site, f"{site.url}/view"), "auditor")
    assert head.startswith(b"HTTP/1.1 200"), head[:200]
    assert rest == b"", f"HEAD sent {len(rest)} body bytes: {rest[:80]!r}"


def test_head_of_a_refused_array_request_sends_no_body(site, targets) -> None:
    """HEAD <array>?format=evil: the 400 error page came as a body."""
    head, rest = _raw(site, "HEAD", _path(site, f"{targets['array']}?format=evil"), "auditor")
    assert head.startswith(b"HTTP/1.1 400"), head[:200]
    assert rest == b"", f"HEAD sent {len(rest)} body bytes: {rest[:80]!r}"


def test_keep_alive_after_head_answers_the_next_request(site, targets) -> None:
    """HEAD (a 404) then GET on one kept-alive connection: the GET read the HEAD's body as
    its status line (a reverse proxy reusing the connection hands it to another client)."""
    token = base64.b64encode(f"{user_name('auditor')}:{user_password('auditor')}".encode())
    headers = {"Authorization": "Basic " + token.decode()}
    connection = http.client.HTTPConnection(site.host, site.port, timeout=30)
    try:
        connection.request("HEAD", _path(site, f"{site.url}/data_array_module/no-such-id"),
                           headers=headers)
        first = connection.getresponse()
        first.read()
        assert first.status == 404
        connection.request("GET", _path(site, f"{targets['array']}?format=raw"), headers=headers)
        try:
            second = connection.getresponse()
        except http.client.HTTPException as error:
            raise AssertionError(f"the GET after a HEAD got a garbled answer: {error!r}") from None
        assert second.status == 200
    finally:
        connection.close()
        TALLY.tries += 2


def test_interrupt_with_a_record_reference_is_a_4xx(site) -> None:
    """Base_interruptJupyter?reference.a:record=x: 500 (the record reached the catalog)."""
    answer = site.request(site.basic("developer"), "POST", f"{site.url}/Base_interruptJupyter",
                          data={"reference.a:record": "x"})
    assert 400 <= answer.status_code < 500, answer.status_code


def test_interrupt_reference_is_text_not_a_catalog_query(site, targets) -> None:
    """reference.query:record=<ref> was run as a catalog query (it interrupted the cell of
    the notebook it matched); a reference must be text, as Base_executeJupyter checks."""
    answer = site.request(site.basic("developer"), "POST", f"{site.url}/Base_interruptJupyter",
                          data={"reference.query:record": targets["notebook_ref"]})
    assert 400 <= answer.status_code < 500, (answer.status_code, answer.text[:200])


def test_check_existing_reference_with_a_record_is_a_4xx(site) -> None:
    """An Auditor's Base_checkExistingReference?reference.a:record=x: 500."""
    answer = site.request(site.basic("auditor"), "GET",
                          f"{site.url}/Base_checkExistingReference",
                          params={"reference.a:record": "x"})
    assert 400 <= answer.status_code < 500, answer.status_code


def _rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def test_a_cells_output_does_not_swell_the_server_process(site) -> None:
    """print('z' * 128 MiB) in a cell grew the server process itself (not the cell's) by
    about 4.4x the output: a few such cells end the site, whatever WENDELIN_CELL_MEMORY."""
    pid = site.server.process.pid
    size = 128 << 20
    base = _rss(pid)
    peak = [base]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], _rss(pid))
            time.sleep(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        answer = site.request(site.basic("developer"), "POST", f"{site.url}/Base_executeJupyter",
                              data={"reference": "sec-round3-output", "store_history": "0",
                                    "python_expression": f"print('z' * {size})"},
                              timeout=300)
    finally:
        done.set()
        sampler.join()
    assert answer.status_code == 200
    grown = peak[0] - base
    assert grown < size, (
        f"the server process grew by {grown >> 20} MiB for a {size >> 20} MiB output")


_KILL_AFTER_COMMIT = """
import os, signal, transaction
class _KillAfterCommit:
    transaction_manager = transaction.manager
    def sortKey(self): return '~~~~ last'
    def abort(self, txn): pass
    def tpc_begin(self, txn): pass
    def commit(self, txn): pass
    def tpc_vote(self, txn): pass
    def tpc_finish(self, txn): os.kill(os.getpid(), signal.SIGKILL)
    def tpc_abort(self, txn): pass
context.getPortalObject().data_stream_module.newContent(reference='sec-round3-killed')
transaction.get().join(_KillAfterCommit())
print('queued')
"""


def test_a_cell_killed_after_its_commit_is_not_reported_rolled_back(site) -> None:
    """A cell process SIGKILLed once the database committed (OOM killer, the time limit's
    kill after COMMIT_GRACE) answered 'its changes were rolled back': they were kept."""
    reply = site.request(site.basic("admin"), "POST", f"{site.url}/Base_executeJupyter",
                         data={"reference": "sec-round3-killed", "store_history": "0",
                               "python_expression": _KILL_AFTER_COMMIT}).json()
    kept = site.run(
        "print(len(context.portal_catalog.unrestrictedSearchResults("
        "portal_type='Data Stream', reference='sec-round3-killed')) or len([d for d in "
        "context.getPortalObject().data_stream_module.objectValues() "
        "if d.getReference() == 'sec-round3-killed']))"
    ).strip()
    claims_rollback = "rolled back" in (reply.get("evalue") or "")
    assert not (claims_rollback and kept != "0"), (
        f"the reply says {reply.get('evalue')!r} but the cell's document was committed")


def test_cell_registry_in_tmp_cannot_be_taken_over(tmp_path) -> None:
    """The registry of cell processes is a predictable /tmp folder (uid and a digest of
    the database address): one pre-made world-writable by another local user was used as
    is, and a note planted there as a symlink had its target overwritten by ``open_note``."""
    import os
    import shutil
    from types import SimpleNamespace

    from Products.Wendelin.jupyter.pool import CellPool, PoolError, WorkerProcess, runtime_dir

    address = str(tmp_path / "zeo.sock")
    planted = runtime_dir(address)
    planted.mkdir()
    os.chmod(planted, 0o777)  # as another local user would leave it
    victim = tmp_path / "victim"
    victim.write_bytes(b"precious")
    os.symlink(victim, planted / "cell-4242")
    settings = SimpleNamespace(cell_workers=2, cell_spare=0, cell_timeout=10.0, cell_memory=0,
                               cell_nice=0, conflict_retries=1, cell_namespace=True)
    ours, theirs = socket.socketpair()
    try:
        try:
            pool = CellPool(tmp_path / "zope.conf", settings, address)
            WorkerProcess(4242, ours).open_note(pool.registry)
        except (OSError, PoolError):
            pass  # refusing the planted folder or the symlink is the fix
        assert victim.read_bytes() == b"precious", "a planted note's symlink target was overwritten"
    finally:
        theirs.close()
        ours.close()
        shutil.rmtree(planted, ignore_errors=True)


def test_ingest_data_chunk_typed_as_int_appends_nothing(site) -> None:
    """``data_chunk:int=5000000`` (25 bytes of form) answered 204 and appended five million
    zero bytes: ``bytes(5000000)``, past the free-disk check made on the body's length."""
    from security_conftest import describe_change

    before = site.snapshot()
    answer = site.request(
        site.basic("author"), "POST",
        f"{site.url}/portal_ingestion_policies/default/ingest?reference=sec-round3-amplified",
        data={"data_chunk:int": "5000000"})
    after = site.snapshot()
    if after != before:
        TALLY.note("partial_writes", f"data_chunk:int: {describe_change(before, after)}")
    assert 400 <= answer.status_code < 500, answer.status_code
    assert after == before, describe_change(before, after)


def test_ingest_data_chunk_of_a_huge_int_is_a_4xx(site) -> None:
    """``data_chunk:int=10000000000000``: the server tried to allocate 10 TB (500)."""
    answer = site.request(
        site.basic("author"), "POST",
        f"{site.url}/portal_ingestion_policies/default/ingest?reference=sec-round3-huge",
        data={"data_chunk:int": "10000000000000"})
    assert 400 <= answer.status_code < 500, answer.status_code

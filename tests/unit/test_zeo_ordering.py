"""The ZEO server ``wendelin run`` and ``make cluster`` use: a commit's invalidations
reach every other client before anything that client asks later is answered.

Real parts: a FileStorage with blobs served by :class:`OrderedStorageServer` on a Unix
socket, ZEO clients with ``server-sync`` as the instance configures them, and committing
clients in processes of their own.
"""

from __future__ import annotations

import multiprocessing
import os
import socket
import threading
import time
from pathlib import Path

import pytest
import transaction
import ZODB.config
from Products.Wendelin.zeoserver import OrderedStorageServer
from ZODB.FileStorage import FileStorage
from ZODB.utils import p64, u64

CLIENT = """
%import ZEO
<zodb>
  <clientstorage>
    server {socket}
    storage 1
    blob-dir {blobs}
    shared-blob-dir true
    server-sync true
  </clientstorage>
</zodb>
"""


def _open(here: Path) -> ZODB.DB:
    return ZODB.config.databaseFromString(
        CLIENT.format(socket=here / "zeo.sock", blobs=here / "blobs"))


@pytest.fixture
def served(tmp_path):
    """An OrderedStorageServer over a fresh FileStorage in tmp_path; yields (server, dir)."""
    storage = FileStorage(str(tmp_path / "Data.fs"), blob_dir=str(tmp_path / "blobs"))
    made: list = []
    # built on a thread of its own, as wendelin run does: ZEO's acceptor runs its own event
    # loop to listen, which fails in a thread where another test left a loop running
    builder = threading.Thread(target=lambda: made.append(
        OrderedStorageServer(str(tmp_path / "zeo.sock"), {"1": storage})))
    builder.start()
    builder.join(30)
    (server,) = made
    server.start_thread(daemon=True)
    yield server, tmp_path
    server.close(join_timeout=5)


def test_an_invalidation_is_written_before_a_reply_made_after_it(served, monkeypatch):
    """In the loop's thread (where tpc_finish runs), the invalidation goes out at once:
    a message the server writes right after it on the same connection comes second."""
    from ZEO.asyncio import client as zeo_client

    server, here = served
    seen: list[str] = []
    arrived = threading.Event()
    receive = zeo_client.Protocol.message_received

    def noting(protocol, data):
        _id, _async, name, args = protocol.decode(data)
        if name == "invalidateTransaction":
            seen.append(name)
        elif name == "info" and args[0].get("marker"):
            seen.append(name)
            arrived.set()
        return receive(protocol, data)

    monkeypatch.setattr(zeo_client.Protocol, "message_received", noting)
    db = _open(here)
    try:
        tid = p64(u64(db.storage.lastTransaction()) + 1)
        (client,) = server.zeo_storages_by_storage_id["1"]

        def in_the_loop() -> None:
            server.invalidate(None, "1", tid, [p64(0)])
            client.async_("info", {"marker": 1})  # as the answer to a ping would be

        server.acceptor.event_loop.call_soon_threadsafe(in_the_loop)
        assert arrived.wait(10)
        assert seen == ["invalidateTransaction", "info"]
        assert server.invq["1"][0] == (tid, [p64(0)])  # kept for clients that reconnect
        assert db.storage.lastTransaction() == tid
    finally:
        db.close()


def _commit_keys(here: str, writer: int, count: int, out: socket.socket) -> None:
    """In its own process: add ``count`` keys to the shared tree, one commit each, and
    tell the reader each key once its commit has returned."""
    from BTrees.OOBTree import OOBTree  # noqa: F401  (the tree's class, for unpickling)
    from ZODB.POSException import ConflictError

    db = _open(Path(here))
    connection = db.open()
    for number in range(count):
        for _attempt in range(100):
            transaction.begin()
            try:
                root = connection.root()
                root["counter"].change(1)
                key = f"{root['counter']():06d}"
                root["tree"][key] = (writer, number)
                transaction.commit()
                break
            except ConflictError:
                transaction.abort()
                time.sleep(0.005)
        else:
            raise AssertionError("still conflicting after 100 tries")
        out.sendall(key.encode() + b"\n")
        out.recv(1)
    out.close()
    db.close()


def test_a_transaction_begun_after_a_commit_sees_it(served):
    """Three processes commit; after each commit returns, this process begins a
    transaction and looks the key up, while two threads keep its one connection to the
    server busy (as pages of other users do). Every key must be there."""
    from BTrees.Length import Length
    from BTrees.OOBTree import OOBTree

    server, here = served
    db = _open(here)
    with db.transaction() as connection:
        connection.root()["tree"] = OOBTree()
        connection.root()["counter"] = Length()
    stop = threading.Event()
    missed: list[str] = []
    looked = [0]

    def browse() -> None:
        while not stop.is_set():
            with db.transaction() as connection:
                list(connection.root()["tree"].keys())[-3:]

    def look(channel: socket.socket) -> None:
        with channel.makefile("rb") as lines:
            for line in lines:
                key = line.decode().strip()
                connection = db.open()
                transaction.begin()
                if key not in connection.root()["tree"]:
                    missed.append(key)
                looked[0] += 1
                transaction.abort()
                connection.close()
                channel.sendall(b"k")

    browsers = [threading.Thread(target=browse, daemon=True) for _ in range(2)]
    for thread in browsers:
        thread.start()
    spawn = multiprocessing.get_context("spawn")
    writers, lookers = [], []
    try:
        for writer in range(3):
            ours, theirs = socket.socketpair()
            process = spawn.Process(target=_commit_keys, args=(str(here), writer, 200, theirs))
            process.start()
            theirs.close()
            writers.append(process)
            lookers.append(threading.Thread(target=look, args=(ours,)))
            lookers[-1].start()
        for process in writers:
            process.join(240)
            assert process.exitcode == 0
        for thread in lookers:
            thread.join(60)
    finally:
        stop.set()
        for thread in browsers:
            thread.join(10)
        db.close()
        for process in writers:
            if process.is_alive():
                process.kill()
    assert looked[0] == 600
    assert missed == []
    assert os.path.getsize(here / "Data.fs") > 0


def test_a_client_that_cannot_be_written_now_gets_it_scheduled(served):
    """A connection that fails a direct write (closing) must not fail the commit: its
    invalidation goes the scheduled way, and the other clients still get theirs at once."""
    server, _here = served
    calls: list[tuple[str, str]] = []
    loop = server.acceptor.event_loop

    class Client:
        def __init__(self, name: str, broken: bool) -> None:
            self.name, self.broken = name, broken
            self.connection = type("Connection", (), {"loop": loop})()

        def async_(self, method, *args):
            if self.broken:
                raise RuntimeError("transport closed")
            calls.append((self.name, "now"))

        def async_threadsafe(self, method, *args):
            calls.append((self.name, "scheduled"))

    clients = [Client("closing", True), Client("open", False)]
    server.zeo_storages_by_storage_id["1"] = clients
    done = threading.Event()

    def in_the_loop() -> None:
        server.invalidate(None, "1", p64(7), [p64(1)])
        done.set()

    loop.call_soon_threadsafe(in_the_loop)
    assert done.wait(10)
    assert calls == [("closing", "scheduled"), ("open", "now")]
    server.zeo_storages_by_storage_id["1"] = []

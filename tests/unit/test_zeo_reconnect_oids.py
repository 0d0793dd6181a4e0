"""A ZEO client drops the object ids it prefetched when it reconnects: a restarted ZEO
server hands out ids from what Data.fs holds, so kept ones were given out twice (two
workers' new objects with one oid, HTTP 500s after ``make cluster`` restarted its ZEO)."""

from __future__ import annotations

import threading
import time

from Products.Wendelin.zeoclient import forget_prefetched_oids_on_reconnect
from Products.Wendelin.zeoserver import OrderedStorageServer
from ZEO.ClientStorage import ClientStorage
from ZODB.FileStorage import FileStorage


def _serve(path, data_fs):
    """A ZEO server on ``path`` over ``data_fs``, built on a thread of its own (ZEO's
    acceptor runs an event loop, refused where an earlier test left one running)."""
    made = []
    builder = threading.Thread(target=lambda: made.append(
        OrderedStorageServer(str(path), {"1": FileStorage(str(data_fs))})))
    builder.start()
    builder.join(30)
    made[0].start_thread(daemon=True)
    return made[0]


def _connected(client: ClientStorage, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not client.is_connected():
        assert time.monotonic() < deadline, "the client did not reconnect"
        time.sleep(0.05)


def test_ids_prefetched_from_a_server_that_died_are_not_used_after_it_restarts(tmp_path):
    forget_prefetched_oids_on_reconnect()
    socket_path, data_fs = tmp_path / "zeo.sock", tmp_path / "Data.fs"
    server = _serve(socket_path, data_fs)
    first = ClientStorage(str(socket_path), wait=True)
    second = None
    try:
        first.new_oid()  # a batch prefetched; none of it stored
        server.close()
        deadline = time.monotonic() + 10
        while first.is_connected() and time.monotonic() < deadline:
            time.sleep(0.05)
        server = _serve(socket_path, data_fs)
        _connected(first)
        second = ClientStorage(str(socket_path), wait=True)
        theirs = {second.new_oid(), *second._oids}  # noqa: SLF001  (its whole batch)
        ours = {first.new_oid() for _ in range(5)}
        assert not ours & theirs  # without the fix: the next ids of the dead server's batch
    finally:
        first.close()
        if second is not None:
            second.close()
        server.close()

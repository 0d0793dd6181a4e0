"""ZEO client fixes, installed once per process at product start-up.

A ``ClientStorage`` prefetches object ids from its server in batches and kept the unused
ones across a reconnect. A ZEO server started again (``make cluster`` restarts a dead
one) hands out ids from what Data.fs holds, so the ids another client had prefetched were
given out twice: new objects of two workers with one oid ("A different object already
has the same oid", HTTP 500s, conflict retries for a minute after a restart).
"""

from __future__ import annotations

from typing import Any


def forget_prefetched_oids_on_reconnect() -> None:
    """A ``ClientStorage`` drops its prefetched object ids whenever it (re)connects."""
    from ZEO.ClientStorage import ClientStorage

    original = ClientStorage.notify_connected
    if getattr(original, "forgets_prefetched_oids", False):
        return

    def notify_connected(self: Any, conn: Any, info: Any) -> None:
        del self._oids[:]  # from the previous server: it may hand them out again
        original(self, conn, info)

    notify_connected.forgets_prefetched_oids = True  # type: ignore[attr-defined]
    ClientStorage.notify_connected = notify_connected

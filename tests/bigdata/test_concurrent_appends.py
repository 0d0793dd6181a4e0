"""Appends to one ZBigFile from concurrent connections merge at commit (issue 14): no
conflict storm, every payload exactly once and whole, in commit order, on FileStorage
and ZEO; other concurrent changes still conflict."""

from __future__ import annotations

import os
import threading

import numpy as np
import pytest
import transaction
from Products.Wendelin.bigdata import ZBigFile
from Products.Wendelin.bigdata.mapping import map_range
from ZODB.POSException import ConflictError

THREADS = 8
ROUNDS = 25
BLKSIZE = 4096


def _payload(thread: int, round_: int) -> list[bytes]:
    """Three pieces appended by one transaction (their order must survive)."""
    rng = np.random.default_rng(thread * 1000 + round_)
    tag = f"<{thread}:{round_}>".encode()
    return [tag + rng.bytes(int(rng.integers(100, 3 * BLKSIZE))) for _ in range(3)]


def _make_file(db) -> None:
    connection = db.open()
    bigfile = ZBigFile(BLKSIZE)
    connection.root()["f"] = bigfile
    bigfile.append(b"head-" * 100)  # a partial block before the concurrent appends
    transaction.commit()
    connection.close()


def _writer(db, thread: int, barrier: threading.Barrier, stats: dict) -> None:
    """One connection appending its payload each round, all committing at once."""
    manager = transaction.TransactionManager()
    connection = db.open(manager)
    try:
        for round_ in range(ROUNDS):
            first = True
            while True:
                manager.begin()
                bigfile = connection.root()["f"]
                for piece in _payload(thread, round_):
                    bigfile.append(piece)
                if first:
                    barrier.wait(timeout=60)
                    first = False
                try:
                    manager.commit()
                    break
                except ConflictError:
                    manager.abort()
                    with stats["lock"]:
                        stats["retried"] += 1
            with stats["lock"]:
                stats["committed"] += 1
    finally:
        manager.abort()
        connection.close()


def test_eight_writers_one_file(database) -> None:
    """8 connections appending with a barrier before each commit: under 2% retried,
    every transaction's bytes once, contiguous and in their order, the size exact."""
    db = database.db
    _make_file(db)
    barrier = threading.Barrier(THREADS)
    stats = {"lock": threading.Lock(), "retried": 0, "committed": 0}
    threads = [
        threading.Thread(target=_writer, args=(db, t, barrier, stats)) for t in range(THREADS)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert stats["committed"] == THREADS * ROUNDS
    assert stats["retried"] < 0.02 * THREADS * ROUNDS, stats

    connection = database.restart().open()
    bigfile = connection.root()["f"]
    head = b"head-" * 100
    expected = {
        (t, r): b"".join(_payload(t, r)) for t in range(THREADS) for r in range(ROUNDS)
    }
    assert bigfile.size == len(head) + sum(len(p) for p in expected.values())
    data = bigfile.read(0, bigfile.size)
    assert data.startswith(head)
    spans = sorted((data.index(p), len(p), key) for key, p in expected.items())
    pos = len(head)
    rounds_seen: dict[int, int] = {}
    for at, length, (t, r) in spans:
        assert at == pos, "payloads must tile the file exactly once"
        assert rounds_seen.get(t, -1) < r, "one writer's rounds stay in commit order"
        rounds_seen[t] = r
        pos += length
    assert pos == bigfile.size
    # Streaming pieces agree with read(); a later write folds the tail and maps again.
    assert b"".join(bigfile.iterate(0, bigfile.size, 5000)) == data
    bigfile.write(0, b"H")
    assert bigfile.mappable() and not bigfile._tail
    transaction.commit()
    view = map_range(bigfile, 0, bigfile.size)
    assert bytes(view) == b"H" + data[1:]
    connection.close()


def _conflicting(db, first, second) -> None:
    """Run ``first`` in one connection and ``second`` in another on the same snapshot."""
    managers = [transaction.TransactionManager() for _ in range(2)]
    connections = [db.open(manager) for manager in managers]
    files = [c.root()["f"] for c in connections]
    first(files[0])
    second(files[1])
    managers[0].commit()
    try:
        with pytest.raises(ConflictError):
            managers[1].commit()
    finally:
        for manager, connection in zip(managers, connections, strict=True):
            manager.abort()
            connection.close()


def test_non_appends_still_conflict(database) -> None:
    """A truncate, or a write to the partial last block, against an append conflicts
    (no merge could be right)."""
    db = database.db
    _make_file(db)
    _conflicting(db, lambda f: f.append(b"x" * 10), lambda f: f.truncate(10))
    _conflicting(db, lambda f: f.write(498, b"ZZ"), lambda f: f.append(b"y" * 10))
    connection = db.open()
    bigfile = connection.root()["f"]
    assert bigfile.read(0, bigfile.size) == (b"head-" * 100)[:498] + b"ZZ" + b"x" * 10
    transaction.abort()
    connection.close()


def test_sequential_appends_adopted_without_copy(database) -> None:
    """Appends committed one after another are adopted into the block table as written
    (no copy): after the fold the table's blocks are the runs' own blob files (a run's
    file starts with a copy of the partial block before it, so the last run wins)."""
    db = database.db
    connection = db.open()
    bigfile = ZBigFile(BLKSIZE)
    connection.root()["f"] = bigfile
    chunks = [os.urandom(1500 + 300 * i) for i in range(10)]
    for chunk in chunks:
        bigfile.append(chunk)
        transaction.commit()
    run_files = {os.path.basename(path) for path, _, _ in bigfile.segments(0, bigfile.size)}
    bigfile._fold()
    transaction.commit()
    assert not bigfile._tail
    table_files = {os.path.basename(p) for _, p, _, _ in bigfile.block_files(0, 10**6)}
    assert table_files <= run_files and len(table_files) > 1  # no block was copied
    assert bigfile.read(0, bigfile.size) == b"".join(chunks)
    connection.close()

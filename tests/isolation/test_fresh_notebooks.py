"""A notebook's first cell runs in a cell process that sees the notebook just created.

The server process creates the notebook and commits; the cell process then opens its
own connection. Without a sync with the database server at the start of its
transaction, the process may not yet have the invalidation and fails with KeyError on
the notebook's id (36 first cells, six at a time, failed so within a few dozen).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from isolation_helpers import run_cell, value


def test_new_notebooks_created_side_by_side_each_run_their_first_cell(cells_server):
    with ThreadPoolExecutor(6) as pool:
        replies = list(pool.map(
            lambda n: run_cell(cells_server, f"{n} * 2", f"fresh-{n}"), range(36)))
    assert [value(reply) for reply in replies] == [str(n * 2) for n in range(36)]

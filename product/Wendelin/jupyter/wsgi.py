"""Cells wait outside Zope: the request that runs a cell holds no database connection.

``POST .../Base_executeJupyter`` is published by Zope as usual (the edge's rules, the
permission, the CSRF token, finding or creating the notebook, all in the request's
transaction, committed). When cells run in processes, the endpoint does not run the
cell: it leaves a :class:`~.worker.CellJob` in the request's :class:`CellSlot`. Once Zope
has committed and closed the request's connection, :class:`CellMiddleware` hands the job
to the pool, waits for the worker's reply and sends it as the answer's body.

Those requests are served by threads of their own (:class:`RoutingDispatcher`), so the
``WENDELIN_THREADS`` threads that serve pages are never taken by a waiting cell.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from waitress.task import ThreadedTaskDispatcher

#: The environ key of the request's :class:`CellSlot`.
SLOT_KEY = "wendelin.cell_slot"
EXECUTE_SCRIPT = "/Base_executeJupyter"


class CellSlot:
    """Where the endpoint leaves the cell to run (kept across Zope's conflict retries)."""

    def __init__(self, pool: Any) -> None:
        self.pool = pool
        self.job: Any = None


def is_cell_request(method: str, path: str) -> bool:
    """Whether a request runs notebook code (a POST to Base_executeJupyter)."""
    return method.upper() == "POST" and path.rstrip("/").endswith(EXECUTE_SCRIPT)


def last_transaction() -> bytes:
    """The newest transaction this server process has seen (its own commits included)."""
    import Zope2

    return Zope2.DB.storage.lastTransaction()


class CellMiddleware:
    """Run the job the endpoint left, after Zope answered; send the cell's reply."""

    def __init__(self, app: Callable, pool: Any) -> None:
        self.app = app
        self.pool = pool

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        if not is_cell_request(environ.get("REQUEST_METHOD", ""), environ.get("PATH_INFO", "")):
            return self.app(environ, start_response)
        slot = environ[SLOT_KEY] = CellSlot(self.pool)
        answer: dict[str, Any] = {}
        written: list[bytes] = []

        def capture(status: str, headers: list, exc_info: Any = None) -> Callable:
            answer.update(status=status, headers=headers, exc_info=exc_info)
            return written.append

        body = self.app(environ, capture)
        try:
            chunks = written + list(body)  # Zope's answer is small: the JSON or an error page
        finally:
            close = getattr(body, "close", None)
            if close is not None:
                close()
        status, headers = answer["status"], answer["headers"]
        if slot.job is not None and status.startswith("200"):
            # Zope's transaction is committed and its connection back in the pool
            slot.job.seen_tid = last_transaction()
            # the JSON reply, encoded by the worker; the client's next request syncs with
            # the database server when it begins (server-sync), so it sees what the cell did
            chunks = [self.pool.run(slot.job)]
            headers = [(k, v) for k, v in headers if k.lower() != "content-length"]
            headers.append(("Content-Length", str(len(chunks[0]))))
        start_response(status, headers, answer.get("exc_info"))
        return chunks


class RoutingDispatcher:
    """waitress's task dispatcher, twice: cell requests on their own threads, pages on theirs."""

    def __init__(self, page_threads: int, cell_threads: int) -> None:
        self.pages = ThreadedTaskDispatcher()
        self.pages.set_thread_count(page_threads)
        self.cells = ThreadedTaskDispatcher()
        self.cells.set_thread_count(cell_threads)

    def add_task(self, task: Any) -> None:
        """Queue a channel's next request for the right threads."""
        requests = getattr(task, "requests", None)
        request = requests[0] if requests else None
        is_cell = request is not None and is_cell_request(
            getattr(request, "command", "") or "", getattr(request, "path", "") or ""
        )
        (self.cells if is_cell else self.pages).add_task(task)

    def set_thread_count(self, count: int) -> None:
        self.pages.set_thread_count(count)

    def shutdown(self, cancel_pending: bool = True, timeout: float = 5) -> bool:
        cells = self.cells.shutdown(cancel_pending, timeout)
        return self.pages.shutdown(cancel_pending, timeout) and cells

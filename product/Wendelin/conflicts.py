"""Count the requests Zope retries after a ZODB write conflict (logged, one line each).

Subscribed to the publisher's "before abort" event in configure.zcml; the count is what
``bench/bench_ingestion.py`` reports as conflicts retried per 1000 requests.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

logger = logging.getLogger("Wendelin.conflicts")
_lock = threading.Lock()
retried = 0


def count_retry(event: Any) -> None:
    """Log and count a request aborted to be retried (a conflict, usually)."""
    global retried
    if not getattr(event, "retry", False):
        return
    with _lock:
        retried += 1
    error = event.exc_info[1] if event.exc_info else None
    logger.info(
        "conflict retry %d: %s (%s: %s)",
        retried,
        event.request.get("PATH_INFO"),
        type(error).__name__,
        str(error)[:200],
    )

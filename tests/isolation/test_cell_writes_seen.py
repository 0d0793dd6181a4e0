"""What a cell committed in its process is seen by the client's next request.

Each cell here creates a document; the request right after it, a page of another thread
of the server, must find it. It failed now and then (2 full-suite runs in 5) while the
server process skipped the round trip at a transaction's begin and relied on seeing the
cell's commit before answering it; its requests now sync when they begin.
"""

from __future__ import annotations

import re
import time
from concurrent.futures import ThreadPoolExecutor

from isolation_helpers import run_cell, value


def _create_then_read(server, n: int) -> tuple[int, str]:
    reply = run_cell(server, (
        "stream = context.getPortalObject().data_stream_module.newContent("
        f"title='seen-{n}')\nstream.getId()"), f"seen-{n % 3}", store_history=False)
    stream_id = value(reply).strip("'")
    url = f"{server.url}/data_stream_module/{stream_id}/view"
    page = server.session().get(url, timeout=60)
    if f"seen-{n}" in page.text:
        return page.status_code, f"seen-{n}"
    # what the page said, and whether it only came late (a missed invalidation) or never
    said = " ".join(re.sub(r"<[^>]+>", " ", page.text.partition("<main")[2]).split())[:300]
    time.sleep(1)
    later = server.session().get(url, timeout=60).status_code
    return page.status_code, f"{stream_id}: {said} (1 s later: {later})"


def test_the_next_request_sees_what_a_cell_committed(cells_server):
    with ThreadPoolExecutor(3) as pool:
        answers = list(pool.map(lambda n: _create_then_read(cells_server, n), range(90)))
    expected = [(200, f"seen-{n}") for n in range(90)]
    log = [line for line in cells_server.output[-400:] if "ERROR" in line or "retr" in line]
    assert answers == expected, "".join(log[-40:])

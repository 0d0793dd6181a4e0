"""What a cell committed in its process is seen by the client's next request.

Each cell here creates a document; the request right after it, a page of another thread
of the server, must find it. It failed now and then in full-suite runs (and at once with
a disk writer and two CPU spinners beside it): ZEO's own server answered the cell's
commit before sending the server process its invalidation, and a ping already being read
in that turn of its loop was answered first. The server is now OrderedStorageServer
(``tests/unit/test_zeo_ordering.py`` has the mechanism alone).
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
    main = page.text.partition("<main")[2] or page.text
    said = " ".join(re.sub(r"<[^>]+>", " ", main).split())[:300]
    time.sleep(1)
    later = server.session().get(url, timeout=60).status_code
    return page.status_code, f"{stream_id}: {said} (1 s later: {later})"


def test_the_next_request_sees_what_a_cell_committed(cells_server):
    with ThreadPoolExecutor(3) as pool:
        answers = list(pool.map(lambda n: _create_then_read(cells_server, n), range(90)))
    missed = [(n, answer) for n, answer in enumerate(answers) if answer != (200, f"seen-{n}")]
    log = [line for line in cells_server.output[-400:] if "ERROR" in line or "retr" in line]
    # the pages that missed come first: a long log must not push them out of the report
    assert not missed, "\n".join([repr(miss) for miss in missed] + log[-40:])

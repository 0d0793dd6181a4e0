"""Six notebooks busy in CPU loops: pages and other notebooks' cells still answer.

Before cell processes, cells ran in the server's request threads: six busy cells took
all four threads and the site stopped answering. The bounds below are liveness bounds
(a listing in 3 s, another notebook's trivial cell in 5 s, as the issue states), given
to requests as time-outs. The cells are busy for 20 s, not 60: once all six run, the
site's state does not change with time (every thread and process is in its steady
state), and 20 s already holds many rounds of probes and the server's own commits.
The busy cells keep no history line: six history lines committed at the same instant
conflict in the catalog, and a conflict replays a cell (20 s more each time).
"""

from __future__ import annotations

import threading
import time

from isolation_helpers import run_cell, value

BUSY_SECONDS = 20
NOTEBOOKS = 6


def busy_cell(marker: str) -> str:
    return (
        "import time\n"
        f"open({marker!r}, 'w').close()\n"
        f"end = time.time() + {BUSY_SECONDS}\n"
        "while time.time() < end:\n    pass\n"
        "'done'"
    )


def test_listing_and_another_notebook_answer_while_six_notebooks_are_busy(
    cells_server, tmp_path
):
    server = cells_server
    admin = server.session()
    first = run_cell(server, "n = 0", "live-probe")
    assert first["status"] == "ok", first
    replies: dict[int, dict] = {}

    def busy(number: int) -> None:
        marker = str(tmp_path / f"started-{number}")
        replies[number] = run_cell(server, busy_cell(marker), f"busy-{number}", timeout=180,
                                   store_history=False)

    threads = [threading.Thread(target=busy, args=(n,)) for n in range(NOTEBOOKS)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 120
    while len(list(tmp_path.glob("started-*"))) < NOTEBOOKS:  # all six are in their loops
        assert time.monotonic() < deadline, (
            "the six busy cells did not all start:\n" + "".join(server.output[-40:]))
        time.sleep(0.2)
    probes = 0
    while any(thread.is_alive() for thread in threads):
        listing = admin.get(f"{server.url}/data_notebook_module/view",
                            headers={"Accept": "text/html"}, timeout=3)
        assert listing.status_code == 200 and "busy-" in listing.text
        api = admin.get(f"{server.url}/data_notebook_module/DataNotebookModule_getNotebookList",
                        timeout=3)
        assert api.status_code == 200
        assert value(run_cell(server, "n = n + 1\nn", "live-probe", timeout=5)) == str(probes + 1)
        probes += 1
        time.sleep(0.5)
    for thread in threads:
        thread.join()
    assert [value(replies[n]) for n in range(NOTEBOOKS)] == ["'done'"] * NOTEBOOKS
    assert probes >= 5  # the probes ran while the six cells were busy

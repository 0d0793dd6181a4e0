"""One user cannot take every cell process: a share per user, and bounded waits.

Before the share, a user's busy cells in N notebooks took all N processes and every
other user's cell waited for them without bound. Each test here fails so: user B's cell
times out, user A's extra cell runs at once (no "waits" line), or a waiting cell waits
for ever instead of ending with ``CellWaitError``. Busy cells loop until the test
creates their release file, so nothing depends on how fast the machine is.
"""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path

import pytest
from isolation_helpers import CELL_MEMORY, Server, run_cell, value

#: The bound of a request that must answer promptly (generous, as in test_liveness).
PROMPT = 30
#: Cell processes of the first server, and a user's share of them (the default: one less).
WORKERS, SHARE = 4, 3


def _both(action, servers) -> None:
    """Start or stop the servers side by side (each takes seconds, mostly waiting)."""
    threads = [threading.Thread(target=getattr(server, action)) for server in servers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    """Four cell processes (a user's share is three, the default: all but one); and two
    processes, a share of one, and cells that wait two seconds at most."""
    share = Server(tmp_path_factory.mktemp("share-site"), {
        "WENDELIN_CELL_MEMORY": CELL_MEMORY, "WENDELIN_CELL_WORKERS": str(WORKERS),
        "WENDELIN_CELL_SPARE": str(WORKERS), "WENDELIN_THREADS": "2",
    })
    wait = Server(tmp_path_factory.mktemp("wait-site"), {
        "WENDELIN_CELL_MEMORY": CELL_MEMORY, "WENDELIN_CELL_WORKERS": "2",
        "WENDELIN_CELL_SPARE": "2", "WENDELIN_CELL_WAIT": "2", "WENDELIN_THREADS": "2",
    })
    _both("start", (share, wait))
    yield share, wait
    _both("stop", (share, wait))


@pytest.fixture(scope="module")
def share_server(servers):
    return servers[0]


@pytest.fixture(scope="module")
def wait_server(servers):
    return servers[1]


def busy_cell(started: Path, release: Path) -> str:
    """A cell that says it started, then runs until ``release`` exists."""
    return (
        "import os, time\n"
        f"open({str(started)!r}, 'w').close()\n"
        f"while not os.path.exists({str(release)!r}):\n    time.sleep(0.05)\n"
        "'done'"
    )


def in_thread(target) -> tuple[threading.Thread, dict]:
    """Run ``target`` in a started thread; its result lands in the dict's ``reply``."""
    result: dict = {}
    thread = threading.Thread(target=lambda: result.update(reply=target()))
    thread.start()
    return thread, result


def wait_for(condition, what: str, server, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what}:\n" + "".join(server.output[-30:])
        time.sleep(0.05)


def waits_logged(server) -> int:
    """How many cells the server logged as waiting for their user's share."""
    return sum(1 for line in list(server.output)
               if re.search(r"a cell of user .* waits: .*WENDELIN_CELL_USER_SHARE", line))


def notebook_line_count(server, reference: str) -> str:
    """The Data Notebook Lines of a notebook, counted by a cell of another notebook."""
    return value(run_cell(server, (
        "from Products.Wendelin.document.base import find_by_reference\n"
        f"notebook = find_by_reference(portal, {reference!r}, 'Data Notebook')\n"
        "len([o for o in notebook.objectValues() if o.getPortalType() == 'Data Notebook Line'])"
        ), "share-counter",
        store_history=False))


def take_share(server, tmp_path: Path, name: str) -> list:
    """User A (the administrator) takes its share, three busy cells in three notebooks."""
    busy = []
    for number in range(1, SHARE + 1):
        started, release = tmp_path / f"started-{number}", tmp_path / f"release-{number}"
        busy.append(in_thread(lambda s=started, r=release, n=number: run_cell(
            server, busy_cell(s, r), f"{name}-busy-{n}", timeout=180, store_history=False)))
        wait_for(started.exists, f"busy cell {number} did not start", server)
    return busy


def release_all(busy: list, tmp_path: Path) -> None:
    for number, (thread, result) in enumerate(busy, 1):
        (tmp_path / f"release-{number}").touch()
        thread.join(timeout=PROMPT)
        assert value(result["reply"]) == "'done'"


def test_a_user_at_its_share_leaves_a_process_to_others_and_waits_for_its_own(
    share_server, tmp_path
):
    """A's three cells run, three more wait (each holding a thread): B still gets the
    fourth process and a thread for its request; A's cells run once A's own end."""
    server = share_server
    other = server.add_user("share-other", ["Developer"])
    busy = take_share(server, tmp_path, "share")
    extras = []
    for number in range(1, SHARE + 1):
        logged = waits_logged(server)
        marker = tmp_path / f"extra-{number}"
        extras.append((marker, in_thread(lambda m=marker, n=number: run_cell(
            server, f"open({str(m)!r}, 'w').close()\n'extra ran'", f"share-extra-{n}",
            timeout=180, store_history=False))))
        wait_for(lambda before=logged: waits_logged(server) > before,
                 f"A's extra cell {number} did not wait", server)
    refused = run_cell(server, "1", "share-extra-refused", timeout=PROMPT)
    assert (refused["status"], refused["ename"]) == ("error", "CellWaitError"), refused
    assert "already wait" in refused["evalue"]

    response = other.post(f"{server.url}/Base_executeJupyter",
                          data={"python_expression": "1 + 1", "reference": "share-b"},
                          timeout=PROMPT)  # the fourth process is free for user B
    assert response.status_code == 200, response.text
    assert value(response.json()) == "2"
    assert not any(marker.exists() for marker, _extra in extras)  # A's extras still wait

    (tmp_path / "release-1").touch()
    for marker, (thread, result) in extras:
        thread.join(timeout=PROMPT)
        assert not thread.is_alive()
        assert value(result["reply"]) == "'extra ran'" and marker.exists()
    release_all(busy, tmp_path)


def test_a_cell_that_waits_too_long_ends_with_the_named_error_and_changes_nothing(
    wait_server, tmp_path
):
    server = wait_server
    assert run_cell(server, "x = 'before'", "wait-kept")["status"] == "ok"
    assert notebook_line_count(server, "wait-kept") == "1"
    started, release = tmp_path / "started", tmp_path / "release"
    busy = in_thread(lambda: run_cell(server, busy_cell(started, release), "wait-busy",
                                      timeout=180, store_history=False))
    wait_for(started.exists, "the busy cell did not start", server)

    logged = waits_logged(server)
    waiting = in_thread(lambda: run_cell(server, "x = 'changed'", "wait-kept", timeout=PROMPT))
    wait_for(lambda: waits_logged(server) > logged, "the second cell did not wait", server)
    refused = run_cell(server, "x = 'changed'", "wait-third", timeout=PROMPT)
    assert (refused["status"], refused["ename"]) == ("error", "CellWaitError"), refused
    assert "already wait" in refused["evalue"]
    assert "WENDELIN_CELL_USER_SHARE = 1" in refused["evalue"]

    waiting[0].join(timeout=PROMPT)
    reply = waiting[1]["reply"]
    assert (reply["status"], reply["ename"]) == ("error", "CellWaitError"), reply
    assert "WENDELIN_CELL_WAIT = 2 s" in reply["evalue"]
    assert "WENDELIN_CELL_USER_SHARE = 1" in reply["evalue"]
    assert "not run" in reply["evalue"]
    same_notebook = run_cell(server, "1", "wait-busy", timeout=PROMPT)  # its cell still runs
    assert same_notebook["ename"] == "CellWaitError", same_notebook
    assert "previous cell is still running" in same_notebook["evalue"]

    release.touch()
    busy[0].join(timeout=PROMPT)
    assert value(busy[1]["reply"]) == "'done'"
    assert value(run_cell(server, "x", "wait-kept", store_history=False)) == "'before'"
    assert notebook_line_count(server, "wait-kept") == "1"  # no line of the cell that waited


def test_an_interrupt_ends_a_waiting_cell_unrun(share_server, tmp_path):
    """Jupyter's stop button while the cell waits for its user's share: it never runs."""
    server = share_server
    busy = take_share(server, tmp_path, "share-stop")
    logged = waits_logged(server)
    ran = tmp_path / "ran"
    waiting = in_thread(lambda: run_cell(
        server, f"open({str(ran)!r}, 'w').close()", "share-stop-waiting", timeout=PROMPT))
    wait_for(lambda: waits_logged(server) > logged, "the extra cell did not wait", server)
    answer = server.session().post(f"{server.url}/Base_interruptJupyter",
                                   data={"reference": "share-stop-waiting"}, timeout=PROMPT)
    assert answer.status_code == 200 and answer.json()["interrupted"] is True, answer.text
    waiting[0].join(timeout=PROMPT)
    reply = waiting[1]["reply"]
    assert (reply["status"], reply["ename"]) == ("error", "KeyboardInterrupt"), reply
    assert "while waiting" in reply["evalue"] and "not run" in reply["evalue"]
    release_all(busy, tmp_path)
    assert not ran.exists()

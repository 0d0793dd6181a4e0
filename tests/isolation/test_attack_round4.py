"""Cases of the fourth outside attack on cell processes.

- A cell reached through a sub-path or ``:method`` of ``Base_executeJupyter`` ran in a
  page thread of the server, with no process, limit, share or interrupt.
- A cell waiting its turn ran after its user lost the permission to run code.
- An idle cell process that died (killed, its zygote gone) was still given cells, which
  failed unrun.
"""

from __future__ import annotations

import os
import re
import signal
import threading
import time

from isolation_helpers import run_cell, value

PROMPT = 60


def _wait_for(condition, what: str, server, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what}:\n" + "".join(server.output[-30:])
        time.sleep(0.05)


def test_a_cell_through_a_sub_path_or_method_is_refused_and_not_run(cells_server, tmp_path):
    marker = tmp_path / "ran-in-a-page-thread"
    code = f"open({str(marker)!r}, 'w').close()\nimport os\nos.getpid()"
    session = cells_server.session()
    for url, extra in ((f"{cells_server.url}/Base_executeJupyter/x", {}),
                       (f"{cells_server.url}/", {"Base_executeJupyter:method": "1"})):
        answer = session.post(url, data={"python_expression": code, "reference": "subpath",
                                         **extra}, timeout=PROMPT)
        assert answer.status_code == 400, (url, answer.status_code, answer.text[:300])
        assert "cell processes" in answer.text
        assert not marker.exists(), url
    # the notebook the refused request would have created was not kept either
    found = value(run_cell(cells_server, (
        "from Products.Wendelin.document.base import find_by_reference\n"
        "find_by_reference(portal, 'subpath', 'Data Notebook') is None"), "subpath-check"))
    assert found == "True"


def test_a_waiting_cell_of_a_user_who_lost_the_permission_does_not_run(cells_server, tmp_path):
    server = cells_server
    developer = server.add_user("revoked-dev", ["Developer"])
    started, release = tmp_path / "started", tmp_path / "release"
    marker = tmp_path / "queued-cell-ran"
    replies: dict = {}

    def post(name: str, code: str) -> None:
        replies[name] = developer.post(f"{server.url}/Base_executeJupyter", data={
            "python_expression": code, "reference": "revoked-nb", "store_history": "False"},
            timeout=180).json()

    busy = threading.Thread(target=post, args=("busy", (
        "import os, time\n"
        f"open({str(started)!r}, 'w').close()\n"
        f"while not os.path.exists({str(release)!r}):\n    time.sleep(0.05)\n'done'")))
    busy.start()
    _wait_for(started.exists, "the busy cell did not start", server)
    waits = sum(1 for line in list(server.output) if "a cell of user 'revoked-dev' waits" in line)
    queued = threading.Thread(target=post, args=(
        "queued", f"open({str(marker)!r}, 'w').close()\n'ran'"))
    queued.start()
    _wait_for(lambda: sum(1 for line in list(server.output)
                          if "a cell of user 'revoked-dev' waits" in line) > waits,
              "the second cell did not wait for the notebook", server)
    demoted = value(run_cell(server, (
        "portal.acl_users.userFolderEditUser('revoked-dev', None, ['Auditor'], [])\n"
        "sorted(portal.acl_users.getUser('revoked-dev').getRoles())"), "revoke-admin"))
    assert "Developer" not in demoted
    release.touch()
    busy.join(180)
    queued.join(180)
    assert replies["busy"]["status"] == "ok", replies["busy"]
    assert (replies["queued"]["status"], replies["queued"]["ename"]) == ("error", "Forbidden"), \
        replies["queued"]
    assert not marker.exists()


def test_an_idle_cell_process_that_died_is_not_given_a_cell(cells_server):
    server = cells_server
    code = "import os\nint(os.environ['WENDELIN_CELL_PID'])"
    pid = int(value(run_cell(server, code, "idle-dies")))
    os.kill(pid, signal.SIGKILL)
    time.sleep(0.5)  # its socket reads as ended once the kernel has reaped its end
    for number in range(6):
        reply = run_cell(server, f"{number} + 1", "idle-dies")
        assert reply["status"] == "ok", reply
        assert value(reply) == str(number + 1)
    assert any(re.search(rf"cell process {pid} ended while idle", line)
               for line in list(server.output)), "".join(server.output[-20:])


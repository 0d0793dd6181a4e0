"""Activities on a real cluster (runzeo, two workers, haproxy): only worker 2 runs them.

With ``WENDELIN_ACTIVITY_WORKERS=2``, CSV data ingested through the front door is turned
into a Data Array by serial ``DataStream_transform`` chunk activities; the activity worker
is SIGKILLed while a chunk is running, the cluster's supervisor restarts it and the array
ends up exact (each number once, in order). Worker 1 serves users and runs none.
"""

from __future__ import annotations

import os
import signal
import time

import msgpack
import pytest
from test_cluster import ClusterProcess, alive

NUMBERS = 600_000  # about 4 MiB of CSV: ~63 chunks of 64 KiB
CHUNK = 65_536
TAG = "kill-activity"


@pytest.fixture(scope="module")
def activity_cluster(tmp_path_factory):
    """A cluster whose activities run on worker 2 only, with quick polls and retries."""
    running = ClusterProcess(tmp_path_factory.mktemp("activity-cluster"))
    running.env.update({
        "WENDELIN_ACTIVITY_WORKERS": "2",
        "WENDELIN_ACTIVITY_POLL": "0.2",
        "WENDELIN_ACTIVITY_BACKOFF": "0.2",
        "WENDELIN_ALARM_PERIOD": "3600",
    })
    running.start()
    yield running
    running.stop()


def run(cluster: ClusterProcess, code: str, url: str | None = None) -> object:
    """Run ``code`` in the portal (one committed transaction); the JSON it prints last."""
    import json

    reply = cluster.session().post(
        f"{url or cluster.url}/Base_executeJupyter",
        data={"python_expression": code, "reference": "activity-workers", "store_history": ""},
        timeout=300,
    ).json()
    assert reply["status"] == "ok", reply
    printed = reply.get("print_result", {}).get("data", {}).get("text/plain", "null")
    return json.loads(printed.strip().splitlines()[-1])


def status(cluster: ClusterProcess) -> dict:
    answer = cluster.session().get(f"{cluster.url}/portal_activities/status_json", timeout=60)
    assert answer.status_code == 200, answer.text[:300]
    return answer.json()


def by_worker(counts: dict[str, int], number: int) -> int:
    """Messages processed by the node of worker ``number`` (its ``var/workers/<n>``)."""
    return sum(count for node, count in counts.items() if f"/workers/{number}/" in node)


def wait(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def test_sigkilled_activity_worker_restarts_and_the_array_is_exact(activity_cluster):
    cluster = activity_cluster
    session = cluster.session()
    run(cluster, "policy, supply, product = portal.portal_ingestion_policies."
                 f"IngestionPolicyTool_addIngestionPolicy({TAG!r}, {TAG!r})\n"
                 "print(1)")
    csv = "".join(f"{x}\n" for x in range(NUMBERS)).encode()
    answer = session.post(f"{cluster.url}/portal_ingestion_policies/{TAG}/ingest",
                          params={"reference": TAG}, data=msgpack.packb([0, csv]),
                          headers={"Content-Type": "application/octet-stream"}, timeout=300)
    assert answer.status_code == 204, answer.text[:300]
    find = ("import json\n"
            "s = portal.portal_catalog.getResultValue(portal_type='Data Stream', "
            f"reference={TAG!r})\n")
    assert run(cluster, find + "print(json.dumps(s.getSize()))") == len(csv)
    before = by_worker(status(cluster)["processed_by"], 2)
    run(cluster, find + f"s.DataStream_transform(chunk_length={CHUNK}, "
                        "data_array_reference='kill-activity-array')\nprint(1)")
    chunks = len(csv) // CHUNK + 1

    def mid_processing() -> dict | None:
        now = status(cluster)
        done = by_worker(now["processed_by"], 2) - before
        return now if 3 <= done < chunks - 5 and now["running"] >= 1 else None

    at_kill = wait(mid_processing, 300, "a chunk running, some done")
    victim = cluster.workers[2][0]
    os.kill(victim, signal.SIGKILL)
    assert by_worker(at_kill["processed_by"], 1) == 0
    # The user-facing worker keeps serving while the activity worker is down.
    worker_1 = cluster.workers[1][1]
    assert session.post(f"{worker_1}/portal_ingestion_policies/default/ingest",
                        params={"reference": "while.down"}, data=msgpack.packb([1, b"up"]),
                        headers={"Content-Type": "application/octet-stream"},
                        timeout=60).status_code == 204
    back = cluster.wait_for_line(r"worker 2 restarted: pid (\d+) at \S+ \(restart 1\)")
    cluster.workers[2] = (int(back.group(1)), cluster.workers[2][1])  # stopped at the end
    assert not alive(victim)
    final = wait(lambda: (lambda s: s if s["queued"] + s["running"] == 0 else None)(
        status(cluster)), 600, "an empty activity queue")
    result = run(cluster, "import json\nimport numpy as np\n"
                          "a = portal.portal_catalog.getResultValue(portal_type='Data Array', "
                          "reference='kill-activity-array').getArray()[:]\n"
                          f"print(json.dumps([len(a), bool((a == np.arange({NUMBERS})).all())]))")
    assert result == [NUMBERS, True]  # no chunk lost, none applied twice
    assert final["failed"] == 0
    assert by_worker(final["processed_by"], 1) == 0  # worker 1 ran no activity
    assert by_worker(final["processed_by"], 2) - before >= chunks
    print(f"{chunks} chunks, killed after {by_worker(at_kill['processed_by'], 2) - before}")

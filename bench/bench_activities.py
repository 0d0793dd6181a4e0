"""Activity engine throughput and ingestion-to-array lag, on the real server.

Starts ``wendelin run`` (temporary instance, alarm period 1 s) and measures, in one run:
empty activities per second (``portal_activities`` messages calling a method that does
nothing), 1 MiB-chunk CSV transforms per second (``DataStream_transform``), each with 1
and 2 activity threads; the same rates through ``make cluster``'s machinery (``wendelin
cluster``: runzeo, two workers, haproxy) with one and two activity workers
(``WENDELIN_ACTIVITY_WORKERS=2`` or ``1,2``, one activity thread each); and the lag from a
fluentd post to its numbers in the analysis's Data Array, with nobody calling anything.
``python bench/bench_activities.py [embedded|cluster|lag ...]`` (all by default).
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

import msgpack

TESTS = Path(__file__).resolve().parents[1] / "tests"
sys.path.insert(0, str(TESTS / "pipelines"))
import conftest as helpers  # noqa: E402

sys.path.insert(0, str(TESTS / "cluster"))
from test_cluster import ClusterProcess  # noqa: E402

EMPTY = 2000
CHUNKS = 32


def _rate(portal, setup: str, count: int) -> float:
    before = portal.status()["processed"]
    clock = time.perf_counter()
    portal.run(setup)
    portal.wait(lambda: portal.status()["processed"] >= before + count, 900, "the activities")
    return count / (time.perf_counter() - clock)


def rates(portal) -> dict[str, float]:
    """Empty activities and 1 MiB CSV chunks per second on a running site."""
    empty = _rate(portal, "tool = portal.portal_activities\n"
                  f"for i in range({EMPTY}):\n"
                  "    tool.queueMessage('portal_activities', 'getProcessedCount')", EMPTY)
    portal.run("s = portal.data_stream_module.newContent(reference='bench')\n"
               "line = (','.join(str(x) for x in range(100)) + '\\n').encode()\n"
               f"s.appendData(line * (({CHUNKS} << 20) // len(line)))")
    find = ("s = portal.portal_catalog.getResultValue(portal_type='Data Stream', "
            "reference='bench')\n")
    chunks = _rate(portal, find + "s.DataStream_transform(chunk_length=1048576, "
                   "data_array_reference='bench', parallelize=1)", CHUNKS + 1)
    return {"empty": empty, "chunks": chunks}


def measure(threads: int) -> dict[str, float]:
    """Rates with ``threads`` activity threads in the embedded server (``wendelin run``)."""
    env = {**helpers.FAST, "WENDELIN_ACTIVITY_THREADS": str(threads),
           "WENDELIN_ALARM_PERIOD": "3600"}
    server = helpers.Server(Path(tempfile.mkdtemp()), env)
    server.start()
    try:
        return rates(helpers.Portal(server))
    finally:
        server.stop()


def measure_cluster(activity_workers: str) -> dict[str, float]:
    """Rates on a two-worker cluster whose activity workers are ``activity_workers``
    (one activity thread each); work is queued and counted through the front door."""
    cluster = ClusterProcess(Path(tempfile.mkdtemp()))
    cluster.env.update({**helpers.FAST, "WENDELIN_ACTIVITY_WORKERS": activity_workers,
                        "WENDELIN_ACTIVITY_THREADS": "1", "WENDELIN_ALARM_PERIOD": "3600"})
    cluster.start()
    try:
        portal = helpers.Portal(cluster)  # it needs .url and .session(): a cluster has both
        found = rates(portal)
        by_node = portal.status()["processed_by"]
        found["nodes"] = float(sum(1 for count in by_node.values() if count))
        return found
    finally:
        cluster.stop()


def lag(rounds: int = 5) -> list[float]:
    """Seconds from a fluentd post to its numbers in the analysis's array (alarm 1 s)."""
    server = helpers.Server(Path(tempfile.mkdtemp()), dict(helpers.FAST))
    server.start()
    portal = helpers.Portal(server)
    try:
        portal.run("policy, supply, product = portal.portal_ingestion_policies."
                   "IngestionPolicyTool_addIngestionPolicy('lag', 'lag')\n"
                   "op = portal.portal_catalog.getResultValue(portal_type='Data Operation', "
                   "reference='wendelin-csv-to-array')\n"
                   "t = portal.data_transformation_module.newContent(reference='lag', "
                   "resource_value=product)\n"
                   "t.newContent(portal_type='Data Transformation Resource Line', "
                   "reference='in_stream', resource_value=product, quantity=-1)\n"
                   "t.newContent(portal_type='Data Transformation Resource Line', "
                   "reference='out_array', quantity=1)\n"
                   "t.newContent(portal_type='Data Transformation Operation Line', "
                   "reference='data_operation', resource_value=op, quantity=1)\n"
                   "t.validate()")
        url = f"{server.url}/portal_ingestion_policies/lag/ingest?reference=lag"
        find = ("a = [b.getObject() for b in portal.portal_catalog(portal_type='Data Array')"
                " if b.getObject().getReference().endswith('.out_array')]\n")
        found = []
        for number in range(rounds):
            body = msgpack.packb([0, "".join(f"{number * 100 + x}\n" for x in range(100))])
            clock = time.perf_counter()
            answer = server.session().post(url, data=body,
                                           headers={"Content-Type": "application/octet-stream"})
            assert answer.status_code == 204
            expected = (number + 1) * 100
            portal.wait(lambda expected=expected: portal.value(
                "len(a[0].getArray()) if a and a[0].getArray() is not None else 0", find
            ) >= expected, 120, "the array")
            found.append(time.perf_counter() - clock)
        return found
    finally:
        server.stop()


def main(parts: list[str]) -> None:
    parts = parts or ["embedded", "cluster", "lag"]
    if "embedded" in parts:
        for threads in (1, 2):
            found = measure(threads)
            print(f"embedded, {threads} thread(s): empty activities {found['empty']:.0f}/s, "
                  f"1 MiB CSV chunks {found['chunks']:.2f}/s ({found['chunks']:.2f} MiB/s)",
                  flush=True)
    if "cluster" in parts:
        for label, selection in (("1 activity worker", "2"), ("2 activity workers", "1,2")):
            found = measure_cluster(selection)
            print(f"cluster, {label} (WENDELIN_ACTIVITY_WORKERS={selection}): empty "
                  f"activities {found['empty']:.0f}/s, 1 MiB CSV chunks {found['chunks']:.2f}/s "
                  f"({found['nodes']:.0f} node(s) processed some)", flush=True)
    if "lag" in parts:
        lags = lag()
        print(f"ingestion to array lag, alarm 1 s: median {statistics.median(lags):.2f} s, "
              f"max {max(lags):.2f} s over {len(lags)} posts", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])

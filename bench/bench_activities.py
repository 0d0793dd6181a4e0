"""Activity engine throughput and ingestion-to-array lag, on the real server.

Starts ``wendelin run`` (temporary instance, alarm period 1 s) and measures, in one run:
empty activities per second (``portal_activities`` messages calling a method that does
nothing), 1 MiB-chunk CSV transforms per second (``DataStream_transform``), each with 1
and 2 activity threads; and the lag from a fluentd post to its numbers in the analysis's
Data Array, with nobody calling anything. ``python bench/bench_activities.py``.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

import msgpack

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "pipelines"))
import conftest as helpers  # noqa: E402

EMPTY = 2000
CHUNKS = 32


def _rate(portal, setup: str, count: int) -> float:
    before = portal.status()["processed"]
    clock = time.perf_counter()
    portal.run(setup)
    portal.wait(lambda: portal.status()["processed"] >= before + count, 900, "the activities")
    return count / (time.perf_counter() - clock)


def measure(threads: int) -> dict[str, float]:
    """Rates with ``threads`` activity threads in the server."""
    env = {**helpers.FAST, "WENDELIN_ACTIVITY_THREADS": str(threads),
           "WENDELIN_ALARM_PERIOD": "3600"}
    server = helpers.Server(Path(tempfile.mkdtemp()), env)
    server.start()
    portal = helpers.Portal(server)
    try:
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
    finally:
        server.stop()


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


def main() -> None:
    for threads in (1, 2):
        rates = measure(threads)
        print(f"{threads} thread(s): empty activities {rates['empty']:.0f}/s, "
              f"1 MiB CSV chunks {rates['chunks']:.2f}/s ({rates['chunks']:.2f} MiB/s)",
              flush=True)
    lags = lag()
    print(f"ingestion to array lag, alarm 1 s: median {statistics.median(lags):.2f} s, "
          f"max {max(lags):.2f} s over {len(lags)} posts", flush=True)


if __name__ == "__main__":
    main()

"""Eight clients appending to ONE stream through a real cluster (runzeo, two workers, haproxy).

Every payload must be stored exactly once, each request's entries contiguous and in their
order, each client's requests in the order it sent them; the requests the workers retried
after a write conflict are counted from their "conflict retry" log lines. The stream's
catalog record is not written per post but it ends up exact (size and date).
"""

from __future__ import annotations

import re
import time
from concurrent.futures import ThreadPoolExecutor

import msgpack
import pytest
from test_cluster import ClusterProcess, ingest, stream_of

CLIENTS = 8
POSTS = 25  # per client
ENTRIES = 4  # per post
TAG = "one.stream"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    running = ClusterProcess(tmp_path_factory.mktemp("one-stream-cluster"))
    running.start()
    yield running
    running.stop()


def post(session, url: str, client: int, number: int) -> int:
    """One request of ``ENTRIES`` fluentd entries ``<client:number:entry>``."""
    body = b"".join(
        msgpack.packb([int(time.time()), f"<{client}:{number}:{entry}>".encode()],
                      use_bin_type=True)
        for entry in range(ENTRIES)
    )
    answer = session.post(
        f"{url}/portal_ingestion_policies/default/ingest",
        params={"reference": TAG},
        data=body,
        headers={"Content-Type": "application/octet-stream"},
        timeout=120,
    )
    return answer.status_code


def retries(cluster: ClusterProcess, after: int) -> int:
    return sum("conflict retry" in line for line in cluster.output[after:])


def test_eight_clients_on_one_stream_store_every_payload_once_in_order(cluster):
    session = cluster.session()
    assert ingest(session, cluster.url, TAG, b"<first>").status_code == 204  # the stream
    mark = len(cluster.output)

    def client(number: int) -> list[int]:
        own = cluster.session()
        return [post(own, cluster.url, number, i) for i in range(POSTS)]

    with ThreadPoolExecutor(CLIENTS) as pool:
        statuses = [s for result in pool.map(client, range(CLIENTS)) for s in result]
    assert set(statuses) == {204}
    retried = retries(cluster, mark)
    print(f"{CLIENTS * POSTS} posts to one stream, {retried} retried after a conflict")

    stored = stream_of(session, cluster.url, TAG).decode()
    assert stored.startswith("<first>")
    pieces = re.findall(r"<(\d+):(\d+):(\d+)>", stored)
    assert len(pieces) == CLIENTS * POSTS * ENTRIES
    assert "".join(f"<{c}:{n}:{e}>" for c, n, e in pieces) == stored[len("<first>"):]
    seen = [(int(c), int(n), int(e)) for c, n, e in pieces]
    assert len(set(seen)) == len(seen)  # exactly once
    for at in range(0, len(seen), ENTRIES):  # each request whole and in its order
        request = seen[at:at + ENTRIES]
        assert [e for _c, _n, e in request] == list(range(ENTRIES))
        assert {(c, n) for c, n, _e in request} == {request[0][:2]}
    for number in range(CLIENTS):  # each client's requests in the order it sent them
        assert [n for c, n, e in seen if c == number and e == 0] == list(range(POSTS))
    # Appends merge at commit: retries are rare (a third of the requests before).
    assert retried <= CLIENTS * POSTS * 5 // 100, retried


def listed_size(session, url: str) -> int | None:
    """The stream's size in the module's listing (rows come from catalog metadata only)."""
    page = session.get(f"{url}/data_stream_module/view", params={"reference": TAG},
                       headers={"Accept": "text/html"}, timeout=120)
    assert page.status_code == 200
    rows = re.findall(r'<td class="mono reference">' + re.escape(TAG) +
                      r'</td>\s*<td>Data Stream</td>\s*<td class="num" title="(\d*)"', page.text)
    assert len(rows) <= 1, rows
    return int(rows[0]) if rows and rows[0] else None


def test_the_streams_catalog_record_catches_up(cluster):
    """Posts leave the record to one delayed refresh; every worker's listing then shows
    the final size."""
    session = cluster.session()
    status = session.get(f"{cluster.url}/portal_ingestion_policies/default/status_json").json()
    size = status[TAG]["size"]
    workers = [url for _pid, url in cluster.workers.values()]
    seen: list[int | None] = []
    for _ in range(240):  # the refresh runs about five seconds after the last post
        seen = [listed_size(session, worker) for worker in workers]
        if seen == [size] * len(workers):
            break
        time.sleep(0.25)
    assert seen == [size] * len(workers)

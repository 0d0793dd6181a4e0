"""A real cluster: runzeo, two `wendelin run` workers and haproxy, started by `wendelin cluster`.

The tests run in file order on one cluster; the last ones kill a worker and stop it all.
"""

from __future__ import annotations

import io
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import msgpack
import pytest
import requests
from Products.Wendelin.processes import BANNER_END, CLUSTER_READY, ProcessOutput

BIN = Path(sys.executable).parent
PASSWORD = "cluster-secret"


class ClusterProcess:
    """`wendelin cluster` in a temporary instance; URL, ZEO address and worker PIDs."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.env = {
            **os.environ,
            "WENDELIN_INSTANCE": str(home),
            "WENDELIN_PORT": "0",
            "WENDELIN_JUPYTER": "0",
            "WENDELIN_WORKERS": "2",
            "WENDELIN_ADMIN_PASSWORD": PASSWORD,
        }
        self.output: list[str] = []
        self.url = ""
        self.zeo = ""
        self.workers: dict[int, tuple[int, str]] = {}
        self.status_file: Path | None = None

    def start(self, timeout: float = 240) -> None:
        self.process = subprocess.Popen(
            [str(BIN / "wendelin"), "cluster"],
            env=self.env,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )

        def banner(line: str) -> bool:
            if line.startswith(CLUSTER_READY):
                self.url = line.split(" at ", 1)[1].strip()
            elif match := re.match(r"  zeo:\s+(\S+)", line):
                self.zeo = match.group(1)
            elif match := re.match(r"  worker (\d+): pid (\d+) at (\S+)", line):
                self.workers[int(match.group(1))] = (int(match.group(2)), match.group(3))
            elif match := re.match(r"  status:\s+(\S+)", line):
                self.status_file = Path(match.group(1))
            return line.startswith(BANNER_END)

        reader = ProcessOutput(self.process, self.output)
        if not (reader.read_until(banner, timeout) and self.url and len(self.workers) == 2):
            self.stop()
            raise RuntimeError("cluster did not start:\n" + reader.tail(60))
        reader.drain()

    def stop(self) -> int | None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                return self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
        return self.process.wait()

    def wait_for_line(self, pattern: str, after: int = 0, timeout: float = 240) -> re.Match:
        """The first output line from index ``after`` on matching ``pattern`` (waits)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.output[after:]:
                if match := re.search(pattern, line):
                    return match
            time.sleep(0.2)
        raise AssertionError(f"no line matching {pattern!r}:\n" + "".join(self.output[-40:]))

    def session(self) -> requests.Session:
        session = requests.Session()
        session.auth = ("zope", PASSWORD)
        return session


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie child of the cluster process is gone for our purpose
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except FileNotFoundError:
        return False


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    running = ClusterProcess(tmp_path_factory.mktemp("cluster"))
    running.start()
    yield running
    running.stop()


def ingest(session, url, tag, payload, request_id=None):
    headers = {"Content-Type": "application/octet-stream"}
    if request_id is not None:
        headers["Idempotency-Key"] = request_id
    return session.post(
        f"{url}/portal_ingestion_policies/default/ingest",
        params={"reference": tag},
        data=msgpack.packb([int(time.time()), payload], use_bin_type=True),
        headers=headers,
        timeout=120,
    )


def stream_of(session, url, tag) -> bytes:
    """The payloads the default policy stored for ``tag``, checked to be the posted msgpack
    entries byte for byte (it stores bodies unchanged, as real Wendelin)."""
    status = session.get(f"{url}/portal_ingestion_policies/default/status_json").json()
    stored = session.get(status[tag]["url"]).content
    entries = list(msgpack.Unpacker(io.BytesIO(stored), raw=False))
    assert b"".join(msgpack.packb(e, use_bin_type=True) for e in entries) == stored
    return b"".join(payload for _time, payload in entries)


def cell(session, url, code, reference="cluster-nb"):
    reply = session.post(
        f"{url}/Base_executeJupyter",
        data={"python_expression": code, "reference": reference},
        timeout=120,
    ).json()
    assert reply["status"] == "ok", reply
    return reply["displayhook_result"].get("data", {}).get("text/plain")


def test_front_door_and_every_worker_serve_one_site(cluster):
    session = cluster.session()
    created = session.post(
        f"{cluster.url}/data_stream_module/newContentFromJSON",
        json={"reference": "seen-everywhere"},
    )
    assert created.status_code == 201
    path = created.json()["url"].split("/erp5/", 1)[1]
    for _pid, worker_url in cluster.workers.values():
        answer = session.head(f"{worker_url}/{path}")
        assert answer.status_code == 200
    anonymous = requests.get(cluster.url)
    assert anonymous.status_code == 401


def test_browser_login_and_upload_through_the_front_door(cluster):
    """Sessions live in ZODB, so a login on one worker holds on the other."""
    import wave

    browser = requests.Session()
    browser.headers["Accept"] = "text/html"
    form = browser.get(f"{cluster.url}/login_form").text
    token = re.search(r'name="_csrf" value="([0-9a-f]+)"', form).group(1)
    login = browser.post(
        f"{cluster.url}/ERP5Site_login",
        data={
            "_csrf": token,
            "__ac_name": "zope",
            "__ac_password": PASSWORD,
            "came_from": cluster.url,
        },
        allow_redirects=False,
    )
    assert login.status_code == 303
    for _ in range(4):  # round robin: both workers know the session
        assert browser.get(f"{cluster.url}/data_stream_module/view").status_code == 200
    sound = io.BytesIO()
    with wave.open(sound, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(b"\x00\x10" * 8000)
    uploaded = cluster.session().post(
        f"{cluster.url}/data_stream_module/DataStreamModule_upload",
        files={"file": ("cluster.wav", sound.getvalue(), "audio/wav")},
        headers={"Accept": "application/json"},
    )
    assert uploaded.status_code == 201, uploaded.text
    info = uploaded.json()
    assert info["size"] == len(sound.getvalue())
    for _pid, worker_url in cluster.workers.values():
        path = info["url"].split("/erp5/", 1)[1]
        assert cluster.session().get(f"{worker_url}/{path}").content == sound.getvalue()


def test_concurrent_appends_through_the_front_door_lose_nothing(cluster):
    clients, count = 8, 200

    def client(number: int) -> list[int]:
        session = cluster.session()
        statuses = []
        for i in range(count):
            answer = ingest(session, cluster.url, "cluster.busy", f"<{number}:{i}>".encode())
            statuses.append(answer.status_code)
        return statuses

    with ThreadPoolExecutor(clients) as pool:
        statuses = [s for result in pool.map(client, range(clients)) for s in result]
    assert set(statuses) == {204}
    data = stream_of(cluster.session(), cluster.url, "cluster.busy").decode()
    expected = {f"{n}:{i}" for n in range(clients) for i in range(count)}
    pieces = data[1:-1].split("><")
    assert len(pieces) == len(expected) and set(pieces) == expected  # each exactly once
    assert len(data.encode()) == sum(len(f"<{p}>") for p in expected)


def test_notebook_cells_share_variables_whatever_worker_runs_them(cluster):
    session = cluster.session()
    cell(session, cluster.url, "counter = 0")
    for _ in range(6):  # round robin: consecutive cells land on both workers
        cell(session, cluster.url, "counter += 1")
    assert cell(session, cluster.url, "counter") == "6"


def test_mapped_array_views_on_every_worker(cluster):
    session = cluster.session()
    cell(
        session,
        cluster.url,
        "import numpy as np\n"
        "doc = context.data_array_module.newContent(reference='cluster-array')\n"
        "doc.initArray((1_000_000,), 'f8')[:] = np.arange(1_000_000)",
        reference="cluster-arrays",
    )
    for _ in range(4):
        total = cell(session, cluster.url, "float(doc.getArray()[:].sum())", "cluster-arrays")
        assert total == str(float(sum(range(1_000_000))))
    url = cell(session, cluster.url, "doc.getRelativeUrl()", "cluster-arrays").strip("'")
    for _pid, worker_url in cluster.workers.values():
        npy = session.get(f"{worker_url}/{url}")
        assert npy.status_code == 200 and len(npy.content) > 8_000_000


def test_sorted_catalog_pages_follow_edits_made_on_another_worker(cluster):
    """Each worker caches sort orders; an edit committed by one worker invalidates them."""
    session = cluster.session()
    first, second = [url for _pid, url in cluster.workers.values()][:2]
    sorted_titles = (
        "titles = [b.title for b in context.portal_catalog(sort_on='title')]\n"
        "(titles == sorted(titles), {!r} in titles, len(titles) > 1)"
    )
    cell(session, first, "context.data_operation_module.newContent("
         "reference='cluster-sorted-op', title='zzz cluster sort')", "cluster-sort")
    for worker in (first, second):  # both workers compute and keep the title order
        assert cell(session, worker, sorted_titles.format("zzz cluster sort"),
                    "cluster-sort") == "(True, True, True)"
    cell(session, first, "context.portal_catalog.getResultValue("
         "reference='cluster-sorted-op').edit(title='A cluster sort')", "cluster-sort")
    for worker in (second, first):  # last before the edit, now among the first
        assert cell(session, worker, sorted_titles.format("A cluster sort"),
                    "cluster-sort") == "(True, True, True)"
    # Each request saw the previous one's commit, whichever worker made it: one notebook.
    assert cell(session, second, "len(context.portal_catalog(portal_type='Data Notebook', "
                "reference='cluster-sort'))", "cluster-sort") == "1"


def test_a_worker_of_another_machine_joins_with_wendelin_zeo(cluster, tmp_path):
    env = {
        **cluster.env,
        "WENDELIN_INSTANCE": str(tmp_path / "remote"),
        "WENDELIN_ZEO": cluster.zeo,
    }
    process = subprocess.Popen(
        [str(BIN / "wendelin"), "run"],
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        assert process.stdout is not None
        url = ""
        for line in process.stdout:
            if line.startswith("Wendelin is ready at "):
                url = line.split(" at ", 1)[1].strip()
                break
        assert url, "the extra worker did not start"
        data = stream_of(cluster.session(), url, "cluster.busy")
        assert data.count(b"<") == 8 * 200
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=30)


def test_a_dead_zeo_server_is_started_again_and_the_site_serves_on(cluster):
    """SIGTERM or SIGKILL to the ZEO server: the cluster notices, starts it again on its
    address, the workers reconnect; a post waiting meanwhile is stored, nothing is lost."""
    session = cluster.session()
    assert ingest(session, cluster.url, "zeo.restart", b"<before>").status_code == 204
    for restart, sig in ((1, signal.SIGTERM), (2, signal.SIGKILL)):
        status = json.loads(cluster.status_file.read_text())
        old = status["zeo_pid"]
        after = len(cluster.output)
        os.kill(old, sig)
        cluster.wait_for_line(rf"ZEO server \(pid {old}\) exited with", after, timeout=30)
        answer = ingest(session, cluster.url, "zeo.restart", f"<{restart}>".encode())
        assert answer.status_code == 204, answer.text  # waited for the ZEO server
        cluster.wait_for_line(rf"ZEO server started again \(pid \d+, restarts: {restart}\)",
                              after, timeout=30)
        status = json.loads(cluster.status_file.read_text())
        assert status["zeo_state"] == "serving" and status["zeo_restarts"] == restart
        assert status["zeo_pid"] != old and alive(status["zeo_pid"])
    assert stream_of(session, cluster.url, "zeo.restart") == b"<before><1><2>"
    # objects made right after a restart get ids of their own on both workers: none of
    # the ids a worker had prefetched from the dead server is handed out twice
    for worker_url in (url for _pid, url in cluster.workers.values()):
        for number in range(20):
            assert ingest(session, worker_url, f"zeo.after.{number}", b"x").status_code == 204


def test_killed_worker_loses_nothing_and_every_append_is_stored_exactly_once(cluster):
    """A client retries each post with its request id until acknowledged while a worker is
    SIGKILLed: every number ends up stored once, in order, whether or not the dying worker
    had committed a post whose answer was lost. Replaying acknowledged ids changes nothing.
    """
    session = cluster.session()
    url = cluster.url
    tries: list[int] = []
    stop = threading.Event()

    def post_until_acknowledged(number: int) -> None:
        for attempt in range(100):
            try:
                answer = ingest(session, url, "cluster.kill", f"<{number}>".encode(),
                                request_id=f"kill-{number}")
                if answer.status_code == 204:
                    tries.append(attempt + 1)
                    return
                assert answer.status_code in (502, 503, 504), answer.text  # the dying worker
            except requests.RequestException:
                pass
            time.sleep(0.1)
        raise AssertionError(f"append {number} never acknowledged")

    def feed() -> None:
        while not stop.is_set():
            post_until_acknowledged(len(tries))

    feeder = threading.Thread(target=feed)
    feeder.start()
    time.sleep(3)
    victim_pid = cluster.workers[1][0]
    os.kill(victim_pid, signal.SIGKILL)
    time.sleep(4)
    stop.set()
    feeder.join()
    fed = len(tries)
    assert fed > 10
    for number in range(fed, fed + 20):  # the cluster keeps serving; numbers go on
        post_until_acknowledged(number)
    for number in range(max(0, fed - 50), fed):  # replays of acknowledged posts: no-ops
        answer = ingest(session, url, "cluster.kill", f"<{number}>".encode(),
                        request_id=f"kill-{number}")
        assert answer.status_code == 204 and answer.headers["Idempotency-Replayed"] == "true"
    stored = [int(p) for p in stream_of(session, url, "cluster.kill").decode()[1:-1].split("><")]
    assert stored == list(range(fed + 20))  # each exactly once, in the order sent
    assert not alive(victim_pid)
    print(f"{fed + 20} appends, {sum(tries) - len(tries)} retried after the kill")


def test_a_killed_worker_is_restarted_with_backoff_and_serves_again(cluster):
    """The worker killed above comes back (a new pid, same port); killed again at once,
    it is restarted after twice the delay. The status file counts the restarts."""
    old_pid, worker_url = cluster.workers[1]
    assert cluster.status_file is not None and cluster.status_file.exists()
    died = cluster.wait_for_line(rf"worker 1 \(pid {old_pid}\) exited with signal 9 "
                                 r"\(SIGKILL\); restarting in (\S+) s")
    assert float(died.group(1)) == 1
    back = cluster.wait_for_line(r"worker 1 restarted: pid (\d+) at (\S+) \(restart 1\)")
    new_pid = int(back.group(1))
    assert new_pid != old_pid and alive(new_pid) and back.group(2) == worker_url
    session = cluster.session()
    assert ingest(session, worker_url, "after.restart", b"served").status_code == 204
    assert stream_of(session, worker_url, "after.restart") == b"served"
    status = json.loads(cluster.status_file.read_text())
    assert status["workers"][0] == {**status["workers"][0], "pid": new_pid, "restarts": 1,
                                    "state": "serving"}
    os.kill(new_pid, signal.SIGKILL)  # a quick second death: the delay doubles
    cluster.wait_for_line(rf"worker 1 \(pid {new_pid}\) exited with signal 9 \(SIGKILL\); "
                          r"restarting in 2 s")
    again = cluster.wait_for_line(r"worker 1 restarted: pid (\d+) at \S+ \(restart 2\)")
    cluster.workers[1] = (int(again.group(1)), worker_url)  # Ctrl-C below must stop it
    assert session.get(f"{worker_url}/portal_ingestion_policies/default/status_json").ok
    assert json.loads(cluster.status_file.read_text())["workers"][0]["restarts"] == 2


def test_ctrl_c_stops_every_process(cluster):
    pids = [pid for pid, _url in cluster.workers.values()]
    assert cluster.stop() == 0
    time.sleep(1)
    assert not any(alive(pid) for pid in pids)
    assert "Wendelin cluster stopped." in "".join(cluster.output)
    leftovers = subprocess.run(
        ["pgrep", "-f", str(cluster.home)], capture_output=True, text=True
    ).stdout.split()
    assert leftovers == []

"""The zc.buildout deployment (``buildout.cfg``) builds instances that serve Wendelin.

A copy of the checkout is built in a temporary directory with zc.buildout installed in a
fresh virtualenv, as a deployer would; then the embedded instance, the ZEO server and
its clients are started on free ports and checked over HTTP.

The first run downloads every distribution from the package index (about two minutes);
later runs reuse the eggs directory ``$WENDELIN_BUILDOUT_EGGS`` (by default
``~/.cache/wendelin/buildout-eggs``), as a deployer's ``~/.buildout/default.cfg`` would.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

REPO = Path(__file__).resolve().parents[2]
ADMIN = ("admin", "buildout-secret")
MODULE_IDS = (
    "data_stream_module",
    "data_array_module",
    "data_notebook_module",
    "data_operation_module",
    "image_module",
)
# Not copied when the checkout is no git work tree.
IGNORED = (
    ".git",
    ".venv",
    "bin",
    "parts",
    "eggs",
    "develop-eggs",
    "var",
    "*.egg-info",
    "__pycache__",
    ".pytest_cache",
    ".ruff_cache",
    ".hypothesis",
    ".installed.cfg",
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _env() -> dict[str, str]:
    """The environment of the deployer: no virtualenv or path of the test process leaks in."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP")
    }
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def _eggs_directory() -> Path:
    configured = os.environ.get("WENDELIN_BUILDOUT_EGGS")
    if configured:
        return Path(configured)
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "wendelin" / "buildout-eggs"


def _copy_checkout(target: Path) -> None:
    """Copy the files of the checkout (tracked or not ignored), as a fresh clone would have."""
    try:
        listed = (
            subprocess.run(
                ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                cwd=REPO,
                check=True,
                capture_output=True,
            )
            .stdout.decode()
            .split("\0")
        )
    except (OSError, subprocess.CalledProcessError):
        shutil.copytree(REPO, target, ignore=shutil.ignore_patterns(*IGNORED))
        return
    for name in filter(None, listed):
        source = REPO / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)


class Deployment:
    """A built buildout directory, its ports and the processes started from it."""

    def __init__(self, directory: Path):
        self.dir = directory
        self.http_port = _free_port()
        self.client_port = _free_port()
        self.zeo_port = _free_port()
        self.processes: list[subprocess.Popen] = []

    def run(self, *args: str, timeout: float = 120) -> str:
        """Run a command in the buildout directory; return its output, failing on an error."""
        result = subprocess.run(
            [str(a) for a in args],
            cwd=self.dir,
            env=_env(),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        output = result.stdout + result.stderr
        assert result.returncode == 0, f"{' '.join(map(str, args))} failed:\n{output}"
        return output

    def start(self, name: str, *args: str) -> subprocess.Popen:
        """Start a long-running command in a process group of its own, logging to var/."""
        log = self.dir / "var" / f"test-{name}.out"
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "wb") as stream:
            process = subprocess.Popen(
                [str(self.dir / "bin" / name), *args],
                cwd=self.dir,
                env=_env(),
                stdout=stream,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        process.log = log  # type: ignore[attr-defined]
        self.processes.append(process)
        return process

    def stop(self, process: subprocess.Popen) -> None:
        """Stop a started command and everything it spawned."""
        for sig, wait in ((signal.SIGTERM, 20), (signal.SIGKILL, 10)):
            try:
                os.killpg(process.pid, sig)
            except ProcessLookupError:
                break
            try:
                process.wait(timeout=wait)
                # Children of the group may outlive the leader for a moment.
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                break
            except subprocess.TimeoutExpired:
                continue
            break
        process.wait(timeout=10)
        if process in self.processes:
            self.processes.remove(process)

    def stop_all(self) -> None:
        for process in list(self.processes):
            self.stop(process)

    @staticmethod
    def output(process: subprocess.Popen) -> str:
        return process.log.read_text(errors="replace")  # type: ignore[attr-defined]

    def wait_for_port(self, process: subprocess.Popen, port: int, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                pytest.fail(f"process exited with {process.returncode}:\n{self.output(process)}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    return
            except OSError:
                time.sleep(0.2)
        pytest.fail(f"nothing listens on port {port}:\n{self.output(process)}")

    def wait_for_http(self, process: subprocess.Popen, url: str, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                pytest.fail(f"process exited with {process.returncode}:\n{self.output(process)}")
            try:
                requests.get(url, timeout=5)
                return
            except (requests.ConnectionError, requests.Timeout):
                # fast-listen: the port answers before Zope has started, which can take
                # longer than one read timeout on a loaded machine
                time.sleep(0.2)
        pytest.fail(f"{url} did not answer:\n{self.output(process)}")


@pytest.fixture(scope="module")
def deployment(tmp_path_factory):
    root = tmp_path_factory.mktemp("buildout")
    directory = root / "wendelin"
    directory.mkdir()
    _copy_checkout(directory)
    cfg = (directory / "buildout.cfg").read_text()
    version = re.search(r"^zc\.buildout\s*=\s*(\S+)", cfg, re.MULTILINE)
    assert version, "buildout.cfg pins no zc.buildout version"

    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, env=_env())
    subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "-q",
            f"zc.buildout=={version.group(1)}",
        ],
        check=True,
        env=_env(),
        timeout=600,
    )
    deployment = Deployment(directory)
    eggs = _eggs_directory()
    eggs.mkdir(parents=True, exist_ok=True)
    deployment.run(
        venv / "bin" / "buildout",
        "-N",
        f"buildout:eggs-directory={eggs}",
        f"wendelin:admin={ADMIN[0]}:{ADMIN[1]}",
        f"instance:http-address=127.0.0.1:{deployment.http_port}",
        f"zeoclient:http-address=127.0.0.1:{deployment.client_port}",
        f"database:zeo-address=127.0.0.1:{deployment.zeo_port}",
        timeout=900,
    )
    try:
        yield deployment
    finally:
        deployment.stop_all()


def _admin() -> requests.Session:
    session = requests.Session()
    session.auth = ADMIN
    return session


def _check_portal(url: str, title: str) -> str:
    """The portal lists its modules and creates a Data Stream over HTTP; return its URL."""
    assert requests.get(url, timeout=30).status_code == 401
    admin = _admin()
    front = admin.get(url, timeout=30)
    assert front.status_code == 200, front.text
    for module_id in MODULE_IDS:
        assert f'data-module="{module_id}"' in front.text
    created = admin.post(
        f"{url}/data_stream_module/newContentFromJSON",
        data=json.dumps({"title": title}),
        headers={"Content-Type": "application/json"},
        timeout=30,
    )
    assert created.status_code == 201, created.text
    document = created.json()
    assert (document["portal_type"], document["title"]) == ("Data Stream", title)
    assert admin.get(document["url"] + "/title_or_id", timeout=30).text == title
    return document["url"]


def test_buildout_generates_the_instances(deployment):
    for script in ("instance", "zeoserver", "zeoclient", "wendelin-site"):
        assert (deployment.dir / "bin" / script).exists(), script
    # The control script only, not `wendelin run`, which would serve instance/ of the checkout.
    assert not (deployment.dir / "bin" / "wendelin").exists()
    parts = deployment.dir / "parts"
    includes = sorted(p.name for p in (parts / "instance/etc/package-includes").iterdir())
    assert includes == ["002-Products.Wendelin-meta.zcml", "003-Products.Wendelin-configure.zcml"]

    conf = (parts / "instance/etc/zope.conf").read_text()
    assert "cache-size-bytes 256MB" in conf
    assert f"blob-dir {deployment.dir}/var/blobstorage" in conf
    assert f"path {deployment.dir}/var/filestorage/Data.fs" in conf
    client_conf = (parts / "zeoclient/etc/zope.conf").read_text()
    assert f"server 127.0.0.1:{deployment.zeo_port}" in client_conf
    assert "shared-blob-dir off" in client_conf
    zeo_conf = (parts / "zeoserver/etc/zeo.conf").read_text()
    assert f"address 127.0.0.1:{deployment.zeo_port}" in zeo_conf
    assert f"path {deployment.dir}/var/filestorage/Data.fs" in zeo_conf
    # Nothing is written into the checkout's own instance directory.
    assert not (deployment.dir / "instance" / "var").exists()


def test_embedded_instance_serves_the_wendelin_site(deployment):
    output = deployment.run(deployment.dir / "bin" / "wendelin-site")
    assert "Wendelin site /erp5:" in output and "data_stream_module" in output, output

    instance = deployment.start("instance", "console")
    try:
        root = f"http://127.0.0.1:{deployment.http_port}"
        deployment.wait_for_http(instance, root + "/")
        assert requests.get(root + "/", timeout=30).status_code == 200
        _check_portal(root + "/erp5", "embedded-stream")
        manage = _admin().get(root + "/manage_main", timeout=30)
        assert manage.status_code == 200, "the buildout's admin is no Zope manager"
    finally:
        deployment.stop(instance)
    assert (deployment.dir / "var/filestorage/Data.fs").stat().st_size > 0


BINARY = {"Content-Type": "application/octet-stream"}
BLOB_SCRIPT = """
import sys, transaction
from ZODB.blob import Blob
from zope.component.hooks import setSite
app._p_jar.root()['buildout_test_blob'] = Blob(b'wendelin' * 4096)
portal = app.erp5
setSite(portal)
document = portal.data_array_module.newContent(title='from-another-zeo-client')
transaction.commit()
print('CREATED', document.getId(), type(app._p_jar.db().storage).__name__)
"""


def test_zeo_server_serves_several_clients(deployment):
    server = deployment.start("zeoserver", "fg")
    client = None
    try:
        deployment.wait_for_port(server, deployment.zeo_port)
        # A first client creates (or upgrades) the portal through ZEO.
        conf = deployment.dir / "parts/zeoclient/etc/zope.conf"
        output = deployment.run(deployment.dir / "bin" / "wendelin-site", conf)
        assert "Wendelin site /erp5:" in output, output

        client = deployment.start("zeoclient", "console")
        url = f"http://127.0.0.1:{deployment.client_port}/erp5"
        deployment.wait_for_http(client, url)
        stream_url = _check_portal(url, "zeo-stream")
        admin = _admin()
        payload = bytes(range(256)) * 9000
        stored = admin.put(stream_url, data=payload, headers=BINARY, timeout=60)
        assert stored.status_code == 204, stored.text

        # Another client process commits a document and a blob while the first one serves;
        # the serving client sees the document (ZEO invalidations).
        script = deployment.dir / "var" / "test-blob.py"
        script.write_text(BLOB_SCRIPT)
        output = deployment.run(deployment.dir / "bin" / "zeoclient", "run", script)
        created = re.search(r"^CREATED (\S+) ClientStorage$", output, re.MULTILINE)
        assert created, output
        array_url = f"{url}/data_array_module/{created.group(1)}"
        seen = admin.get(array_url + "/title_or_id", timeout=30)
        assert (seen.status_code, seen.text) == (200, "from-another-zeo-client")

        # Blobs live on the server, clients keep only a cache (shared-blob off): a client
        # restarted with an empty cache reads the stream back from the server.
        assert list((deployment.dir / "var/blobstorage").rglob("*.blob"))
        deployment.stop(client)
        shutil.rmtree(deployment.dir / "var/blobcache-zeoclient")
        client = deployment.start("zeoclient", "console")
        deployment.wait_for_http(client, url)
        assert admin.get(stream_url, timeout=60).content == payload
        assert admin.get(array_url + "/title_or_id", timeout=30).text == "from-another-zeo-client"
    finally:
        if client is not None:
            deployment.stop(client)
        deployment.stop(server)

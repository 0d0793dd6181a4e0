"""``python -m Products.Wendelin.zeoserver`` (``make cluster``'s ZEO server) as runzeo's
command line: a database another server holds is refused in one clear line."""

from __future__ import annotations

import socket
import subprocess
import sys
import time


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _conf(tmp_path, port: int) -> str:
    path = tmp_path / f"zeo-{port}.conf"
    path.write_text(f"<zeo>\n  address 127.0.0.1:{port}\n</zeo>\n"
                    f"<filestorage>\n  path {tmp_path / 'Data.fs'}\n</filestorage>\n")
    return str(path)


def test_a_database_in_use_is_refused_with_a_message_not_a_traceback(tmp_path):
    first_port = _free_port()
    first = subprocess.Popen([sys.executable, "-m", "Products.Wendelin.zeoserver",
                              "-C", _conf(tmp_path, first_port)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", first_port), timeout=1).close()
                break
            except OSError:
                assert first.poll() is None and time.monotonic() < deadline
                time.sleep(0.1)
        second = subprocess.run([sys.executable, "-m", "Products.Wendelin.zeoserver",
                                 "-C", _conf(tmp_path, _free_port())],
                                capture_output=True, text=True, timeout=60)
        assert second.returncode == 1
        assert "the database is in use by another process" in second.stderr
        assert "Traceback" not in second.stderr
        assert first.poll() is None  # the first server serves on
    finally:
        first.terminate()
        first.wait(timeout=30)

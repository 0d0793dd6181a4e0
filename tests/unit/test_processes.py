"""Reading a child's output: up to its banner, then drained in the background."""

import subprocess
import sys
import time

from Products.Wendelin.processes import READY, ProcessOutput


def child(code: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def test_reads_to_the_banner_then_drains_the_rest():
    process = child(f"print('starting'); print('{READY}http://x/erp5', flush=True); "
                    "import sys; print('later', file=sys.stderr)")
    reader = ProcessOutput(process)
    assert reader.read_until(lambda line: line.startswith(READY), timeout=30)
    assert reader.lines == ["starting\n", f"{READY}http://x/erp5\n"]
    reader.drain()
    process.wait(timeout=30)
    deadline = time.monotonic() + 10
    while "later\n" not in reader.lines and time.monotonic() < deadline:
        time.sleep(0.01)
    assert reader.lines[-1] == "later\n" and reader.tail(1) == "later\n"


def test_output_ending_without_the_banner_is_not_ready():
    process = child("print('Traceback: boom')")
    reader = ProcessOutput(process, lines=["kept\n"])
    assert not reader.read_until(lambda line: line.startswith(READY), timeout=30)
    assert reader.lines == ["kept\n", "Traceback: boom\n"]
    process.wait(timeout=30)

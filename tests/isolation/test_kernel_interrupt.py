"""Jupyter's stop button through the real ERP5 kernel (jupyter_client interrupt_kernel).

The kernel asks the server to interrupt the notebook's cell; the cell process raises
KeyboardInterrupt in the user's code, its transaction is rolled back and the notebook's
variables stay. Two seconds is the issue's bound for the cell to stop, here given as
the time-out for the kernel's reply.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from isolation_helpers import PASSWORD, kernel_helpers

from erp5_kernel.install import install


@pytest.fixture
def kernel(cells_server, tmp_path):
    prefix = tmp_path / "prefix"
    spec_dir = str(Path(install(prefix=str(prefix))).parent)
    started = kernel_helpers.Kernel([spec_dir], {
        "ERP5_URL": cells_server.url, "ERP5_USER": "zope", "ERP5_PASSWORD": PASSWORD,
        "JPY_SESSION_NAME": "/somewhere/isolation-interrupt.ipynb",
    })
    yield started
    started.shutdown()


def test_interrupt_kernel_stops_the_cell_on_the_server_and_keeps_variables(kernel, tmp_path):
    assert kernel.run("x = 41").status == "ok"
    marker = tmp_path / "looping"
    msg_id = kernel.client.execute(
        f"x = 0\nopen({str(marker)!r}, 'w').close()\nwhile True:\n    pass\n"
    )
    deadline = time.monotonic() + 60
    while not marker.exists():  # the cell is in its loop on the server
        assert time.monotonic() < deadline
        time.sleep(0.05)
    kernel.manager.interrupt_kernel()
    reply = kernel.client.get_shell_msg(timeout=2)
    assert reply["parent_header"]["msg_id"] == msg_id
    content = reply["content"]
    assert (content["status"], content["ename"]) == ("error", "KeyboardInterrupt")
    assert "while True" in "".join(content["traceback"])  # raised in the user's loop
    time.sleep(0.5)  # ipykernel aborts requests that arrive right after an error reply
    assert kernel.run("x + 1").result == "42"  # the interrupted cell's x = 0 is rolled back

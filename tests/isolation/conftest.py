"""One real server whose notebook cells run in cell processes with a low memory limit.

The server class is the functional tests' own (``tests/functional/conftest.py``) and the
kernel helpers are the kernel tests' own (``tests/kernel/kernel_helpers.py``).
"""

from __future__ import annotations

import pytest
from isolation_helpers import CELL_MEMORY, Server


@pytest.fixture(scope="session")
def cells_server(tmp_path_factory):
    """A server with room for eight cell processes of CELL_MEMORY each, two started ahead."""
    server = Server(tmp_path_factory.mktemp("isolation-site"), {
        "WENDELIN_CELL_MEMORY": CELL_MEMORY,
        "WENDELIN_CELL_WORKERS": "8",
        "WENDELIN_CELL_SPARE": "2",
        "WENDELIN_THREADS": "4",
    })
    server.start()
    yield server
    server.stop()

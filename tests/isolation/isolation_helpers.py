"""Helpers of the isolation tests: run a cell over HTTP as ERP5's kernel does."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
#: Address space of one cell process in these tests: a cell can take about two GiB.
CELL_MEMORY = "3GiB"


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


kernel_helpers = _load("wendelin_kernel_helpers", HERE.parent / "kernel" / "kernel_helpers.py")
Server = kernel_helpers.Server
PASSWORD = kernel_helpers.PASSWORD


def run_cell(
    server, code: str, reference: str, timeout: float = 120, store_history: bool = True
) -> dict:
    """POST one cell as ERP5's kernel does; return the JSON reply."""
    response = server.session().post(
        f"{server.url}/Base_executeJupyter",
        data={"python_expression": code, "reference": reference,
              "store_history": str(store_history)},
        timeout=timeout,
    )
    assert response.status_code == 200, response.text
    return response.json()


def value(reply: dict) -> str:
    """The displayed value of a successful cell."""
    assert reply["status"] == "ok", reply
    return reply["displayhook_result"]["data"]["text/plain"]


def interrupt(server, reference: str) -> dict:
    """Interrupt the notebook's running cell over HTTP, as ERP5's kernel users may."""
    response = server.session().post(f"{server.url}/Base_interruptJupyter",
                                     data={"reference": reference}, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()

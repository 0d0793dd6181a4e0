"""Fixtures of the functional tests: the real server (see ``tests/functional_server.py``)."""

from __future__ import annotations

import pytest
from functional_server import PASSWORD, UI, Server  # noqa: F401  (test modules import them)


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    srv = Server(tmp_path_factory.mktemp("server-instance"))
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture
def admin(server):
    return server.session()


@pytest.fixture
def make_server(tmp_path):
    """Factory for servers of the test's own; all are stopped at the end."""
    started: list[Server] = []

    def factory(**extra_env: str) -> Server:
        srv = Server(tmp_path / f"instance-{len(started)}", extra_env)
        started.append(srv)
        return srv

    yield factory
    for srv in started:
        srv.stop()


@pytest.fixture(scope="session")
def ui_server(tmp_path_factory):
    """A server of the web UI tests' own (no Jupyter child), shared by their modules."""
    srv = Server(tmp_path_factory.mktemp("ui-instance"), {"WENDELIN_JUPYTER": "0"})
    srv.start()
    yield srv
    srv.stop()

@pytest.fixture(scope="session")
def ui(ui_server):
    return UI(ui_server)

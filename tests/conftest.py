"""Shared fixtures: an in-process Zope over a temporary instance, and its portal.

Zope is configured once per test process from a temporary instance (never
``instance/var``); each test gets the portal in a fresh connection, logged in as
the administrator, and whatever it did not commit is aborted afterwards.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

TESTS = Path(__file__).resolve().parent
#: ``make test`` runs ``pytest -n 2 --dist loadfile``: each test file runs in one worker, in
#: order. Folders run longest first (their measured seconds) so that the two workers end
#: together. (``--dist loadgroup`` would keep a folder in one worker, but xdist 3.8 cannot
#: name groups under pytest 9: its node ids are no longer plain strings.)
GROUP_SECONDS = {  # the sum of each folder's test durations in one run (loaded machine)
    "functional": 530, "cluster": 460, "security": 400, "kernel": 225, "bigdata": 205,
    "buildout": 190, "isolation": 180, "pipelines": 140, "analysis": 95, "browser": 75,
    "unit": 60, "ingestion": 50, "packaging": 40, "jupyter": 20,
}


def _group(item: Any) -> str:
    parts = Path(str(item.path)).resolve().relative_to(TESTS).parts
    return parts[0] if len(parts) > 1 else "root"


def pytest_collection_modifyitems(config: Any, items: list) -> None:
    """Order the folders longest first (stable: files and tests keep their order)."""
    items.sort(key=lambda item: -GROUP_SECONDS.get(_group(item), 0))


_WORKER_TALLIES: list[dict] = []


def pytest_testnodedown(node: Any, error: Any) -> None:
    """An xdist worker ended: keep the adversarial suite's counters it sent."""
    tally = getattr(node, "workeroutput", {}).get("security_tally")
    if tally:
        _WORKER_TALLIES.append(tally)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """With xdist, print the adversarial suite's counters summed over the workers."""
    if not _WORKER_TALLIES:
        return
    from security_tally import Tally, print_tally

    total = Tally()
    for tally in _WORKER_TALLIES:
        total.add(tally)
    print_tally(terminalreporter, total)

ADMIN = "zope"
ADMIN_PASSWORD = "admin-secret"


@pytest.fixture(scope="session")
def zope_settings(tmp_path_factory):
    """Configure Zope in this process over a temporary instance with the site created."""
    import Zope2
    from Products.Wendelin.server import make_app, prepare_site, write_config
    from Products.Wendelin.settings import Settings

    home = tmp_path_factory.mktemp("instance")
    settings = Settings.from_environ(
        {"WENDELIN_INSTANCE": str(home), "WENDELIN_ADMIN_PASSWORD": ADMIN_PASSWORD}
    )
    make_app(write_config(settings))
    prepare_site(settings)
    yield settings
    Zope2.DB.close()


class Login:
    """Switch the security context of the current thread to a user of the portal or root."""

    def __init__(self, app):
        self.app = app

    def __call__(self, user_id: str) -> None:
        from AccessControl.SecurityManagement import newSecurityManager

        for folder in (self.app.erp5.acl_users, self.app.acl_users):
            user = folder.getUserById(user_id)
            if user is not None:
                newSecurityManager(None, user.__of__(folder))
                return
        raise LookupError(f"no user {user_id!r}")


@pytest.fixture
def app(zope_settings):
    import transaction
    import Zope2
    from AccessControl.SecurityManagement import noSecurityManager
    from Testing.makerequest import makerequest
    from zope.component.hooks import setSite

    transaction.abort()
    root = makerequest(Zope2.app())
    Login(root)(ADMIN)
    yield root
    transaction.abort()
    noSecurityManager()
    setSite(None)
    root._p_jar.close()


@pytest.fixture
def portal(app):
    from zope.component.hooks import setSite

    site = app.erp5
    setSite(site)
    return site


@pytest.fixture
def login(app):
    return Login(app)


@pytest.fixture
def site_users(portal):
    """Users of the portal, one per Wendelin role, plus one without any role."""
    users = portal.acl_users
    for name, roles in (
        ("author", ["Author"]),
        ("auditor", ["Auditor"]),
        ("developer", ["Developer"]),
        ("nobody", []),
    ):
        if users.getUserById(name) is None:
            users._doAddUser(name, "pw-" + name, roles, [])
    return users


CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


@pytest.fixture(scope="session")
def chromium():
    """Debian's Chromium, headless, driven by Playwright: ONE for the whole session.

    Playwright's sync API keeps its event loop running while it is open, so a second
    ``sync_playwright()`` in the same thread fails; every folder's browser tests share this.
    """
    from pathlib import Path

    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), "Debian's chromium is needed: make test installs it"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()

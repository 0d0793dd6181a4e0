"""The real server with its Jupyter, and real ERP5 kernels started through jupyter_client.

The server class is the functional tests' own (``tests/functional_server.py``); the
site here runs Jupyter on a random port, as ``wendelin run`` does under tests.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from kernel_helpers import PASSWORD, Jupyter, Kernel, Server, jupyter_of

from erp5_kernel.install import install


@pytest.fixture(scope="session")
def site(tmp_path_factory):
    """One real server with Jupyter enabled for the whole kernel test session."""
    server = Server(tmp_path_factory.mktemp("kernel-site"), {"WENDELIN_JUPYTER": "1"})
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def jupyter(site) -> Jupyter:
    return jupyter_of(site)


@pytest.fixture(scope="session")
def kernel_dirs(tmp_path_factory) -> list[str]:
    """The erp5 kernelspec installed by our installer into a prefix of the test's own."""
    prefix = tmp_path_factory.mktemp("kernel-prefix")
    installed = Path(install(prefix=str(prefix)))
    return [str(installed.parent)]


@pytest.fixture
def start_kernel(kernel_dirs):
    """Factory: ``start_kernel(ERP5_URL=..., ...)`` starts a kernel; all stop at the end."""
    kernels: list[Kernel] = []

    def factory(**env: str) -> Kernel:
        kernel = Kernel(kernel_dirs, env)
        kernels.append(kernel)
        return kernel

    yield factory
    for kernel in kernels:
        kernel.shutdown()


@pytest.fixture
def site_kernel(site, start_kernel):
    """Factory: a kernel whose environment points at the site as the administrator."""

    def factory(reference: str, **env: str) -> Kernel:
        defaults = {
            "ERP5_URL": site.url,
            "ERP5_USER": "zope",
            "ERP5_PASSWORD": PASSWORD,
            "JPY_SESSION_NAME": f"/somewhere/{reference}.ipynb",
        }
        return start_kernel(**{**defaults, **env})

    return factory

"""Browser tests: Debian's Chromium driven by Playwright against a real Wendelin server."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import functional_server as _server
import pytest
import requests

ARTIFACTS = Path(__file__).parent / "artifacts"


PASSWORD = _server.PASSWORD


@pytest.fixture(scope="session")
def live_server(tmp_path_factory):
    srv = _server.Server(tmp_path_factory.mktemp("browser-instance"), {"WENDELIN_JUPYTER": "0"})
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir(parents=True)
    return ARTIFACTS


@pytest.fixture
def page(chromium):
    context = chromium.new_context(viewport={"width": 1280, "height": 860})
    page = context.new_page()
    page.set_default_timeout(20000)
    yield page
    context.close()


@pytest.fixture
def login(page, live_server):
    """Log ``page`` in through the form (as the administrator unless told otherwise)."""

    def do(user: str = "zope", password: str = PASSWORD):
        page.goto(live_server.url)
        page.fill("input[name=__ac_name]", user)
        page.fill("input[name=__ac_password]", password)
        page.click("button:has-text('Log in')")
        page.wait_for_selector(".username")
        return page

    return do


@pytest.fixture(scope="session")
def fixtures(live_server):
    """Documents of every type, made over HTTP as a script would (Basic auth)."""
    admin = requests.Session()
    admin.auth = ("zope", PASSWORD)
    url = live_server.url

    def run(code: str, reference: str) -> None:
        reply = admin.post(f"{url}/Base_executeJupyter",
                           data={"python_expression": code, "reference": reference}).json()
        assert reply["status"] == "ok", reply

    run(
        "import numpy as np\n"
        "a = context.data_array_module.newContent(reference='sine-1d', title='Sine wave')\n"
        "a.initArray((200000,), 'float32')\n"
        "x = np.linspace(0, 40 * np.pi, 200000)\n"
        "a.getArray()[:] = (np.sin(x) * np.exp(-x / 80)).astype('float32')\n",
        "browser-setup",
    )
    run("import math\nprint('square root of two:', math.sqrt(2))", "browser-notebook")
    run("class Shown:\n    def _repr_html_(self):\n"
        "        return '<table><tr><th>k</th><td>v</td></tr></table><script>bad()</script>'\n"
        "Shown()", "browser-notebook")

    def create(module: str, **properties) -> dict:
        response = admin.post(f"{url}/{module}/newContentFromJSON", data=json.dumps(properties),
                              headers={"Content-Type": "application/json"})
        assert response.status_code == 201, response.text
        return response.json()

    for i in range(27):
        create("data_operation_module", title=f"Operation {i:02d}", reference=f"op-{i:02d}",
               description=f"Operation tagged tag{i:02d}x for searches.",
               script_id=f"DataArray_step{i % 3}", parameter_dict={"rank": i})
    image = create("image_module", title="Spectrum plot", reference="spectrum.png")
    return {"image": image, "admin": admin}

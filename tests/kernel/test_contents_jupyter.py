"""Jupyter's contents API (``/api/contents``) over the portal's Data Notebooks, for real.

Jupyter is the one ``wendelin run`` started next to the site; every call goes over HTTP
to Jupyter with its token, and from there to the portal's notebook JSON API.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import json
import re
import time
from concurrent.futures import ThreadPoolExecutor

import nbformat
import pytest
import requests
from jupyter_client import BlockingKernelClient
from kernel_helpers import PASSWORD, free_port
from tornado.web import HTTPError

from erp5_kernel.contents import Erp5ContentsManager
from erp5_kernel.launcher import start_jupyter


def run_coroutine(coroutine):
    """Run a coroutine in a thread of its own: another test may leave this thread's loop running."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\0" * 16).decode()


def rich_notebook() -> nbformat.NotebookNode:
    """A notebook using most of nbformat 4: every cell and output type, attachments."""
    nb = nbformat.v4.new_notebook(metadata={"custom": {"answer": 42}, "title": "Round trip"})
    nb.cells = [
        nbformat.v4.new_markdown_cell(
            "# Title\n![pic](attachment:pic.png)",
            attachments={"pic.png": {"image/png": PNG}},
        ),
        nbformat.v4.new_code_cell(
            "print('out')\n6 * 7",
            execution_count=3,
            metadata={"tags": ["keep"]},
            outputs=[
                nbformat.v4.new_output("stream", name="stdout", text="out\n"),
                nbformat.v4.new_output("display_data", data={"image/png": PNG}),
                nbformat.v4.new_output(
                    "execute_result", data={"text/plain": "42"}, execution_count=3
                ),
                nbformat.v4.new_output(
                    "error",
                    ename="ValueError",
                    evalue="v",
                    traceback=["Traceback", "ValueError: v"],
                ),
            ],
        ),
        nbformat.v4.new_raw_cell("raw text", metadata={"format": "text/plain"}),
    ]
    nbformat.validate(nb)
    return nb


def without_volatile(nb: dict) -> dict:
    """The notebook without what saving legitimately sets (kernelspec, reference, trust)."""
    nb = copy.deepcopy(nb)
    for key in ("kernelspec", "language_info", "erp5"):
        nb["metadata"].pop(key, None)
    for cell in nb["cells"]:
        cell["metadata"].pop("trusted", None)
    return nb


def put(api, path: str, nb: dict) -> dict:
    response = api.put(f"{path}", json={"type": "notebook", "format": "json", "content": nb})
    assert response.status_code in (200, 201), response.text
    return response.json()


@pytest.fixture
def api(jupyter):
    """``api.get("x.ipynb")`` etc. on Jupyter's contents API, with the token."""
    session = jupyter.session()

    class Api:
        def __getattr__(self, method):
            def call(path="", **kwargs):
                return session.request(
                    method.upper(), f"{jupyter.base_url}api/contents/{path}", **kwargs
                )

            return call

    return Api()


def test_listing_shows_portal_notebooks(site, api):
    admin = site.session()
    answer = admin.post(
        f"{site.url}/Base_executeJupyter",
        data={"python_expression": "listed = 1\nlisted + 1", "reference": "contents-listed"},
    )
    assert answer.json()["status"] == "ok"
    listing = api.get().json()
    assert listing["type"] == "directory"
    names = {item["name"]: item for item in listing["content"]}
    assert names["contents-listed.ipynb"]["type"] == "notebook"
    opened = api.get("contents-listed.ipynb").json()
    assert opened["type"] == "notebook" and opened["content"]["nbformat"] == 4
    cell = opened["content"]["cells"][-1]
    assert cell["source"] == "listed = 1\nlisted + 1"
    assert cell["outputs"][-1]["data"]["text/plain"] == "2"


def test_nbformat_round_trip_through_jupyter_and_portal(site, api):
    nb = rich_notebook()
    trusted = copy.deepcopy(nb)  # as the front end saves what the user ran
    for cell in trusted.cells:
        cell.metadata["trusted"] = True
    saved = put(api, "contents-round.ipynb", trusted)
    assert saved["name"] == "contents-round.ipynb" and saved["content"] is None
    opened = api.get("contents-round.ipynb").json()
    assert without_volatile(opened["content"]) == without_volatile(nb)
    assert opened["content"]["metadata"]["kernelspec"]["name"] == "erp5"
    assert opened["last_modified"] == saved["last_modified"]
    assert opened["content"]["cells"][1]["metadata"]["trusted"] is True  # signed as stored
    stored = site.session().get(
        f"{site.url}/data_notebook_module/DataNotebookModule_getNotebook",
        params={"reference": "contents-round"},
    )
    assert without_volatile(stored.json()["ipynb"]) == without_volatile(nb)
    assert stored.json()["ipynb"]["metadata"]["kernelspec"]["name"] == "erp5"
    raw = api.get("contents-round.ipynb", params={"type": "file", "format": "text"}).json()
    assert without_volatile(nbformat.reads(raw["content"], as_version=4)) == without_volatile(nb)
    with_hash = api.get("contents-round.ipynb", params={"content": "0", "hash": "1"}).json()
    assert with_hash["hash_algorithm"] == "sha256" and len(with_hash["hash"]) == 64


def test_running_cells_does_not_make_the_file_look_changed(site, api, site_kernel):
    put(api, "contents-stable.ipynb", rich_notebook())
    opened = api.get("contents-stable.ipynb", params={"hash": "1"}).json()  # as Notebook 7
    time.sleep(1.1)  # dates have a resolution of one second
    assert site_kernel("contents-stable").run("value = 5\nvalue").result == "5"
    # what Notebook 7 checks before saving: a change would ask "overwrite or revert?"
    again = api.get("contents-stable.ipynb", params={"content": "0", "hash": "1"}).json()
    assert (again["last_modified"], again["hash"]) == (opened["last_modified"], opened["hash"])


def test_new_untitled_rename_and_delete(site, api):
    created = api.post(json={"type": "notebook"})
    assert created.status_code == 201, created.text
    name = created.json()["name"]
    assert name.startswith("Untitled") and name.endswith(".ipynb")
    renamed = api.patch(name, json={"path": "contents-renamed.ipynb"})
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["name"] == "contents-renamed.ipynb"
    assert api.get(name).status_code == 404
    put(api, "contents-taken.ipynb", nbformat.v4.new_notebook())
    taken = api.patch("contents-renamed.ipynb", json={"path": "contents-taken.ipynb"})
    assert taken.status_code == 409 and "contents-taken" in taken.json()["message"]
    copied = api.post(json={"copy_from": "contents-renamed.ipynb"})
    assert copied.status_code == 201 and copied.json()["name"] == "contents-renamed-Copy1.ipynb"
    assert api.delete("contents-renamed.ipynb").status_code == 204
    assert api.delete("contents-renamed.ipynb").status_code == 404
    listed = site.session().get(
        f"{site.url}/data_notebook_module/DataNotebookModule_getNotebookList"
    )
    references = {entry["reference"] for entry in listed.json()}
    assert "contents-renamed" not in references and "contents-renamed-Copy1" in references


def test_only_root_notebooks_with_clear_errors(api):
    assert api.get("missing-notebook.ipynb").status_code == 404
    nested = api.get("folder/x.ipynb")
    assert nested.status_code == 404 and "folder/x.ipynb" in nested.text
    folder = api.put("contents-folder", json={"type": "directory"})
    assert folder.status_code == 400 and "Folders" in folder.json()["message"]
    text = api.put("notes.txt", json={"type": "file", "format": "text", "content": "hi"})
    assert text.status_code == 400 and "notes.txt" in text.json()["message"]
    bad = {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [{"cell_type": "bogus"}]}
    invalid = api.put("contents-invalid.ipynb", json={"type": "notebook", "content": bad})
    assert invalid.status_code == 400 and "invalid notebook" in invalid.json()["message"]
    assert "Troubleshooting" not in invalid.json()["message"]  # the error, not the page
    assert api.get("contents-invalid.ipynb").status_code == 404  # nothing saved


def test_checkpoint_create_and_restore(api):
    original = rich_notebook()
    put(api, "contents-checkpoint.ipynb", original)
    checkpoint = api.post("contents-checkpoint.ipynb/checkpoints")
    assert checkpoint.status_code == 201, checkpoint.text
    put(api, "contents-checkpoint.ipynb", nbformat.v4.new_notebook())
    listed = api.get("contents-checkpoint.ipynb/checkpoints").json()
    assert [c["id"] for c in listed] == [checkpoint.json()["id"]]
    restored = api.post(f"contents-checkpoint.ipynb/checkpoints/{listed[0]['id']}")
    assert restored.status_code == 204, restored.text
    content = api.get("contents-checkpoint.ipynb").json()["content"]
    assert without_volatile(content) == without_volatile(original)


def test_opened_notebook_kernel_uses_its_reference_even_after_a_rename(site, jupyter, api):
    put(api, "contents-session.ipynb", nbformat.v4.new_notebook())
    session = jupyter.session()
    specs = session.get(f"{jupyter.base_url}api/kernelspecs").json()
    assert specs["default"] == "erp5"
    assert specs["kernelspecs"]["erp5"]["spec"]["display_name"] == "ERP5"
    # what the notebook front end posts when it opens a notebook (default kernel)
    created = session.post(
        f"{jupyter.base_url}api/sessions",
        json={
            "path": "contents-session.ipynb",
            "name": "contents-session.ipynb",
            "type": "notebook",
        },
    )
    assert created.status_code == 201, created.text
    session_url = f"{jupyter.base_url}api/sessions/{created.json()['id']}"
    kernel_id = created.json()["kernel"]["id"]
    assert created.json()["kernel"]["name"] == "erp5"
    client = BlockingKernelClient()
    client.load_connection_file(str(jupyter.runtime_dir / f"kernel-{kernel_id}.json"))
    # no heartbeat: without a kernel manager the client takes a heartbeat missed for 1 s
    # (the kernel still starting, on a loaded machine) for a dead kernel; Jupyter's own
    # manager watches the process, and a kernel that died never answers kernel_info
    client.start_channels(hb=False)
    try:
        client.wait_for_ready(timeout=60)
        reply = client.execute_interactive("marker = 'set from Jupyter'", timeout=60)
        assert reply["content"]["status"] == "ok"
        answer = (
            site.session()
            .post(
                f"{site.url}/Base_executeJupyter",
                data={"python_expression": "marker", "reference": "contents-session"},
            )
            .json()
        )
        assert answer["displayhook_result"]["data"]["text/plain"] == "'set from Jupyter'"
        # renaming in the front end: the file, then the session's path
        assert api.patch("contents-session.ipynb", json={"path": "contents-moved.ipynb"}).ok
        moved = {"path": "contents-moved.ipynb", "name": "contents-moved.ipynb"}
        assert session.patch(session_url, json=moved).ok
        outputs = []
        reply = client.execute_interactive(
            "marker", output_hook=lambda msg: outputs.append(msg), timeout=60
        )
        assert reply["content"]["status"] == "ok"
        texts = [m["content"].get("text", "") for m in outputs if m["msg_type"] == "stream"]
        assert "its reference is now 'contents-moved'" in "".join(texts)
        results = [m["content"] for m in outputs if m["msg_type"] == "execute_result"]
        assert results[0]["data"]["text/plain"] == "'set from Jupyter'"
    finally:
        client.stop_channels()
        session.delete(session_url)
    names = {item["name"] for item in api.get().json()["content"]}
    assert "contents-moved.ipynb" in names and "contents-session.ipynb" not in names


def test_portal_refusing_jupyter_is_a_clear_error(site, tmp_path):
    jupyter = start_jupyter(site.url, "zope", "wrong-password", tmp_path / "var", port=0)
    try:
        jupyter.wait_ready()
        response = requests.get(
            f"{jupyter.base_url}api/contents", headers={"Authorization": f"token {jupyter.token}"}
        )
        assert response.status_code == 502
        assert "401" in response.json()["message"] and "'zope'" in response.json()["message"]
    finally:
        jupyter.stop()


def test_unreachable_portal_and_missing_settings_in_process():
    unreachable = Erp5ContentsManager(
        erp5_url=f"http://127.0.0.1:{free_port()}/erp5", erp5_user="u", erp5_password="p"
    )
    with pytest.raises(HTTPError) as raised:
        run_coroutine(unreachable.get(""))
    assert raised.value.status_code == 503 and "Cannot reach ERP5" in raised.value.log_message
    unset = Erp5ContentsManager(erp5_url="", erp5_user="", erp5_password="")
    with pytest.raises(HTTPError) as raised:
        run_coroutine(unset.get(""))
    assert raised.value.status_code == 500 and "ERP5_URL" in raised.value.log_message
    assert PASSWORD not in raised.value.log_message


def test_notebook_run_outside_jupyter_opens_without_a_false_change(site, api, site_kernel):
    kernel = site_kernel("contents-made-up")
    assert kernel.run("made_up = 1").status == "ok"  # the notebook exists only as cells
    opened = api.get("contents-made-up.ipynb", params={"hash": "1"}).json()  # as Notebook 7
    assert kernel.run("made_up + 1").result == "2"
    before_save = api.get("contents-made-up.ipynb", params={"content": "0", "hash": "1"}).json()
    assert before_save["hash"] == opened["hash"]
    assert before_save["last_modified"] == opened["last_modified"]


def test_file_browser_starts_at_the_notebooks(jupyter):
    page = jupyter.session().get(f"{jupyter.base_url}tree").text
    config = json.loads(re.search(r'id="jupyter-config-data"[^>]*>(.*?)</script>', page, re.S)[1])
    assert config["preferredPath"] == "/"  # else Notebook 7 says "Directory not found"


def big_notebook(megabytes: int) -> nbformat.NotebookNode:
    """A notebook of about ``megabytes`` MiB, mostly base64 PNG figure outputs."""
    import random

    rng = random.Random(megabytes)
    nb = nbformat.v4.new_notebook()
    per_image = 2 << 20  # bytes of PNG data per output, before base64
    count = megabytes * (1 << 20) * 3 // 4 // per_image + 1
    for number in range(count):
        png = b"\x89PNG\r\n\x1a\n" + rng.randbytes(per_image - 8)
        nb.cells.append(
            nbformat.v4.new_code_cell(
                f"plot({number})",
                execution_count=number + 1,
                outputs=[
                    nbformat.v4.new_output(
                        "display_data",
                        data={"image/png": base64.b64encode(png).decode(), "text/plain": "<Fig>"},
                    )
                ],
            )
        )
    return nb


def test_a_50_mib_notebook_with_images_round_trips_through_jupyter(site, api):
    """Saving from Jupyter is not stopped by Zope's 1 MB form limit; nothing is altered."""
    nb = big_notebook(50)
    size = len(json.dumps(nb))
    assert size > 50 << 20
    put(api, "contents-big.ipynb", nb)
    opened = api.get("contents-big.ipynb").json()
    assert without_volatile(opened["content"]) == without_volatile(nb)
    stored = site.session().get(
        f"{site.url}/data_notebook_module/DataNotebookModule_getNotebook",
        params={"reference": "contents-big"},
    )
    assert stored.status_code == 200
    images = [c["outputs"][0]["data"]["image/png"] for c in stored.json()["ipynb"]["cells"]]
    assert images == [c.outputs[0].data["image/png"] for c in nb.cells]


def test_metadata_erp5_not_an_object_is_a_clear_400(api):
    """Jupyter answers 400 naming metadata.erp5 (it was a 500 from the contents manager)."""
    nb = nbformat.v4.new_notebook(metadata={"erp5": "a string"})
    response = api.put("contents-bad-meta.ipynb",
                       json={"type": "notebook", "format": "json", "content": nb})
    assert response.status_code == 400, response.text
    assert "metadata.erp5" in response.json()["message"]
    assert api.get("contents-bad-meta.ipynb").status_code == 404

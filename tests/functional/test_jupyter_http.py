"""Base_executeJupyter and the notebook JSON API over HTTP on the real server."""

from __future__ import annotations

import base64
import threading

import pytest

#: The keys ERP5's Jupyter kernel reads from the reply.
ERP5_REPLY_KEYS = {
    "status",
    "ename",
    "evalue",
    "traceback",
    "code_result",
    "print_result",
    "displayhook_result",
    "mime_type",
    "extra_data_list",
}


def execute(session, server, code, reference="nb-http", **fields):
    """POST exactly what ERP5's kernel posts (None fields left out)."""
    form = {
        "python_expression": code,
        "reference": reference,
        "title": fields.pop("title", None),
        "store_history": fields.pop("store_history", "True"),
        "request_reference": fields.pop("request_reference", "False"),
    }
    form = {key: value for key, value in form.items() if value is not None}
    response = session.post(f"{server.url}/Base_executeJupyter", data=form, timeout=60)
    assert response.status_code == 200, response.text
    return response.json()


def test_erp5_kernel_form_and_reply_keys(server, admin):
    reply = execute(admin, server, "print('out')\n6 * 7", title="HTTP notebook")
    assert ERP5_REPLY_KEYS <= set(reply)
    assert reply["status"] == "ok", (reply["ename"], reply["evalue"], reply["traceback"])
    assert reply["print_result"] == {"data": {"text/plain": "out\n"}, "metadata": {}}
    assert reply["displayhook_result"]["data"]["text/plain"] == "42"
    assert reply["code_result"] == "out\n42"


def test_magics_flow_check_reference_then_empty_request(server, admin):
    check = admin.post(f"{server.url}/Base_checkExistingReference", data={"reference": "flow"})
    assert check.status_code in (200, 204) and check.text == ""
    # the request ERP5's kernel sends after %notebook_set_reference: no python_expression
    response = admin.post(f"{server.url}/Base_executeJupyter", data={"reference": "flow"})
    assert response.status_code == 200 and response.json()["status"] == "ok"
    check = admin.post(f"{server.url}/Base_checkExistingReference", data={"reference": "flow"})
    assert check.text != ""
    listed = execute(admin, server, None, reference=None, request_reference="True")
    assert "flow" in [n["reference"] for n in listed["notebook_list"]]


def test_error_reply_and_abort(server, admin):
    reply = execute(
        admin,
        server,
        "context.data_stream_module.newContent(reference='ghost-of-failed-cell')\n"
        "raise ValueError('bad value 7')",
    )
    assert (reply["status"], reply["ename"], reply["evalue"]) == (
        "error",
        "ValueError",
        "bad value 7",
    )
    assert any("raise ValueError" in line for line in reply["traceback"])
    found = execute(admin, server, "len(context.portal_catalog(reference='ghost-of-failed-cell'))")
    assert found["displayhook_result"]["data"]["text/plain"] == "0"


def test_matplotlib_figure_comes_back_as_png(server, admin):
    reply = execute(
        admin,
        server,
        "%matplotlib inline\nimport matplotlib.pyplot as plt\nplt.plot([3, 1, 2])\nNone",
    )
    assert reply["status"] == "ok", reply["traceback"]
    images = [b for b in reply["extra_data_list"] if "image/png" in b["data"]]
    assert len(images) == 1
    assert base64.b64decode(images[0]["data"]["image/png"]).startswith(b"\x89PNG")


def test_anonymous_401_and_users_without_permission_403(server, admin):
    anonymous = server.session()
    anonymous.auth = None
    assert anonymous.post(f"{server.url}/Base_executeJupyter", data={}).status_code == 401
    author = server.add_user("http-author", ["Author"])
    response = author.post(
        f"{server.url}/Base_executeJupyter",
        data={"python_expression": "context.data_stream_module.newContent()", "reference": "a"},
    )
    assert response.status_code == 403
    assert "Execute Notebook Code" in response.text
    developer = server.add_user("http-developer", ["Developer"])
    assert execute(developer, server, "1 + 1", reference="dev")["status"] == "ok"


def test_different_notebooks_run_in_parallel(server, admin, tmp_path):
    """A cell of notebook A waits for a file that a cell of notebook B writes."""
    flag = tmp_path / "flag"
    results = {}

    def wait_for_flag():
        results["a"] = execute(
            admin,
            server,
            "import os, time\nfor _ in range(200):\n"
            f"    if os.path.exists({str(flag)!r}): break\n    time.sleep(0.05)\n"
            f"os.path.exists({str(flag)!r})",
            reference="parallel-a",
        )

    waiter = threading.Thread(target=wait_for_flag)
    waiter.start()
    results["b"] = execute(
        admin, server, f"open({str(flag)!r}, 'w').close()", reference="parallel-b"
    )
    waiter.join()
    assert results["a"]["displayhook_result"]["data"]["text/plain"] == "True"


def test_executions_of_one_notebook_are_serialised(server, admin):
    execute(admin, server, "n = 0", reference="serial")
    threads = [
        threading.Thread(
            target=execute,
            args=(admin, server, "import time\nm = n\ntime.sleep(0.2)\nn = m + 1"),
            kwargs={"reference": "serial"},
        )
        for _ in range(3)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert (
        execute(admin, server, "n", reference="serial")["displayhook_result"]["data"]["text/plain"]
        == "3"
    )


def test_variables_and_classes_survive_a_restart(make_server):
    srv = make_server(WENDELIN_JUPYTER="0")
    srv.start()
    session = srv.session()
    reply = execute(
        session,
        srv,
        "import io\nclass Reader(io.RawIOBase):\n"
        "    def __init__(self, data):\n        self.data = data\n"
        "    def readable(self):\n        return True\n"
        "stream = context.data_stream_module.newContent(reference='restart')\n"
        "stream.appendData(b'abc')\nsaved = {'k': [1, 2]}\nreader = Reader(b'xyz')\n",
        reference="restart-nb",
    )
    assert reply["status"] == "ok", reply
    srv.restart()
    session = srv.session()
    reply = execute(
        session,
        srv,
        "saved['k'], stream.getData(), isinstance(reader, Reader), reader.data",
        reference="restart-nb",
    )
    assert reply["displayhook_result"]["data"]["text/plain"] == "([1, 2], b'abc', True, b'xyz')"


@pytest.fixture
def notebook_api(server, admin):
    return f"{server.url}/data_notebook_module"


def test_notebook_json_api_round_trip(server, admin, notebook_api):
    import nbformat

    node = nbformat.v4.new_notebook()
    node.cells.append(nbformat.v4.new_code_cell("x = 1"))
    node.cells.append(nbformat.v4.new_markdown_cell("# Title <script>"))
    created = admin.post(
        f"{notebook_api}/DataNotebookModule_saveNotebook",
        json={"reference": "api-nb", "title": "API", "ipynb": node},
    )
    assert created.status_code == 201, created.text
    assert created.json()["reference"] == "api-nb"
    again = admin.post(
        f"{notebook_api}/DataNotebookModule_saveNotebook",
        json={"reference": "api-nb", "ipynb": node},
    )
    assert again.status_code == 200
    listed = admin.get(f"{notebook_api}/DataNotebookModule_getNotebookList").json()
    assert "api-nb" in [entry["reference"] for entry in listed]
    got = admin.get(
        f"{notebook_api}/DataNotebookModule_getNotebook", params={"reference": "api-nb"}
    ).json()
    assert [c["source"] for c in got["ipynb"]["cells"]] == ["x = 1", "# Title <script>"]
    assert got["ipynb"]["metadata"]["erp5"]["reference"] == "api-nb"
    nbformat.validate(nbformat.from_dict(got["ipynb"]))

    bad = admin.post(
        f"{notebook_api}/DataNotebookModule_saveNotebook",
        json={"reference": "api-nb", "ipynb": {"nbformat": 4, "cells": "nope"}},
    )
    assert bad.status_code == 400 and "invalid notebook" in bad.text
    unchanged = admin.get(
        f"{notebook_api}/DataNotebookModule_getNotebook", params={"reference": "api-nb"}
    ).json()
    assert len(unchanged["ipynb"]["cells"]) == 2

    execute(admin, server, "1", reference="taken-nb")
    taken = admin.post(
        f"{notebook_api}/DataNotebookModule_renameNotebook",
        data={"reference": "api-nb", "new_reference": "taken-nb"},
    )
    assert taken.status_code == 409
    renamed = admin.post(
        f"{notebook_api}/DataNotebookModule_renameNotebook",
        data={"reference": "api-nb", "new_reference": "api-nb-2"},
    )
    assert renamed.status_code == 200 and renamed.json()["reference"] == "api-nb-2"
    deleted = admin.post(
        f"{notebook_api}/DataNotebookModule_deleteNotebook", data={"reference": "api-nb-2"}
    )
    assert deleted.status_code == 204
    missing = admin.get(
        f"{notebook_api}/DataNotebookModule_getNotebook", params={"reference": "api-nb-2"}
    )
    assert missing.status_code == 404


@pytest.mark.parametrize("error", ["KeyboardInterrupt", "GeneratorExit", "SystemExit"])
def test_base_exception_cells_get_an_answer_and_roll_back(server, admin, error):
    """A cell raising a BaseException answers its error; what it created is rolled back."""
    reference = f"ghost-of-{error}"
    reply = execute(
        admin,
        server,
        f"context.data_stream_module.newContent(reference={reference!r})\nraise {error}('x')",
        reference="base-exceptions",
    )
    assert (reply["status"], reply["ename"]) == ("error", error)
    found = execute(admin, server, f"len(context.portal_catalog(reference={reference!r}))")
    assert found["displayhook_result"]["data"]["text/plain"] == "0"


def test_a_conflict_in_a_cell_retries_the_request(server, admin, tmp_path):
    """A ConflictError is retried by the publisher: the second attempt's answer is sent."""
    marker = tmp_path / "attempted"
    reply = execute(
        admin,
        server,
        "import os\nfrom ZODB.POSException import ConflictError\n"
        f"if not os.path.exists({str(marker)!r}):\n"
        f"    open({str(marker)!r}, 'w').close()\n"
        "    raise ConflictError('first attempt')\n'retried'",
        reference="conflict-retry",
    )
    assert reply["status"] == "ok", reply
    assert reply["displayhook_result"]["data"]["text/plain"] == "'retried'"


def _notebook_of(nbytes: int) -> dict:
    """An nbformat-4 notebook whose JSON is a little more than ``nbytes`` bytes."""
    import nbformat

    node = nbformat.v4.new_notebook()
    node.cells.append(nbformat.v4.new_code_cell("# " + "x" * nbytes))
    return node


def test_notebook_bodies_past_the_form_limit_save_and_the_quota_answers_413(make_server):
    """Bodies above Zope's 1 MB form limit save; above WENDELIN_MAX_NOTEBOOK_BYTES: 413."""
    srv = make_server(WENDELIN_JUPYTER="0", WENDELIN_MAX_NOTEBOOK_BYTES="3MiB")
    srv.start()
    admin = srv.session()
    save = f"{srv.url}/data_notebook_module/DataNotebookModule_saveNotebook"
    fits = admin.post(save, json={"reference": "quota-fits", "ipynb": _notebook_of(2 << 20)})
    assert fits.status_code == 201, fits.text[:300]
    too_big = admin.post(save, json={"reference": "quota-big", "ipynb": _notebook_of(4 << 20)})
    assert too_big.status_code == 413, too_big.text[:300]
    assert "WENDELIN_MAX_NOTEBOOK_BYTES" in too_big.text
    listed = admin.get(f"{srv.url}/data_notebook_module/DataNotebookModule_getNotebookList")
    references = [entry["reference"] for entry in listed.json()]
    assert "quota-fits" in references and "quota-big" not in references


def test_a_cell_over_one_mebibyte_sent_urlencoded_runs(admin, server):
    """ERP5's kernel sends cells urlencoded: a 2 MiB cell (pasted data) is not a 400."""
    data = "x" * (2 << 20)
    response = admin.post(f"{server.url}/Base_executeJupyter", data={
        "python_expression": f"len({data!r})", "reference": "big-cell",
    })
    assert response.status_code == 200, response.text[:300]
    assert response.json()["code_result"].strip() == str(2 << 20)

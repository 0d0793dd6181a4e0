"""Bad bodies for DataNotebookModule_saveNotebook on the real server: 400, nothing saved.

Deep nesting, a string where ``metadata.erp5`` must be an object, and a lone surrogate
were 500s (RecursionError, TypeError, UnicodeEncodeError) and could leave a notebook
created without content.
"""

from __future__ import annotations

import json

import functional_server as functional
import nbformat
import pytest

JSON = {"Content-Type": "application/json"}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A real server (no Jupyter child) of this module's own."""
    srv = functional.Server(tmp_path_factory.mktemp("nb-input"), {"WENDELIN_JUPYTER": "0"})
    srv.start()
    yield srv
    srv.stop()


def notebook(source: str = "x = 1") -> dict:
    node = nbformat.v4.new_notebook()
    node.cells.append(nbformat.v4.new_code_cell(source))
    return node


def save(server, body: str | bytes):
    return server.session().post(
        f"{server.url}/data_notebook_module/DataNotebookModule_saveNotebook",
        data=body, headers=JSON, timeout=60,
    )


def references(server) -> list[str]:
    listed = server.session().get(
        f"{server.url}/data_notebook_module/DataNotebookModule_getNotebookList"
    )
    assert listed.status_code == 200, listed.text
    return [entry["reference"] for entry in listed.json()]


def stored_sources(server, reference: str) -> list[str]:
    got = server.session().get(
        f"{server.url}/data_notebook_module/DataNotebookModule_getNotebook",
        params={"reference": reference},
    )
    assert got.status_code == 200, got.text
    return [cell["source"] for cell in got.json()["ipynb"]["cells"]]


def erp5_string(reference: str) -> str:
    node = notebook()
    node.metadata["erp5"] = "not an object"
    return json.dumps({"reference": reference, "ipynb": node})


def lone_surrogate(reference: str) -> str:
    # json.dumps escapes it as \ud800: valid JSON text, not valid Unicode
    return json.dumps({"reference": reference, "ipynb": notebook("bad = '\ud800'")})


def deep_inside(reference: str) -> str:
    return json.dumps({"reference": reference, "ipynb": notebook()})[:-1] + (
        ', "x": ' + "[" * 100000 + "]" * 100000 + "}"
    )


CASES = {
    "deeply nested body": (lambda reference: "[" * 100000, "nests deeper"),
    "deeply nested inside the notebook": (deep_inside, "nests deeper"),
    "metadata.erp5 a string": (erp5_string, "metadata.erp5"),
    "lone surrogate in a cell": (lone_surrogate, "surrogate"),
    "ipynb not an object": (
        lambda reference: json.dumps({"reference": reference, "ipynb": "text"}),
        "'ipynb'",
    ),
    "title not text": (
        lambda reference: json.dumps(
            {"reference": reference, "title": ["t"], "ipynb": notebook()}
        ),
        "title",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_body_for_a_new_notebook_is_a_400_and_creates_nothing(server, case):
    make, message = CASES[case]
    reference = "new-" + case.replace(" ", "-").replace(".", "-")
    answer = save(server, make(reference))
    assert answer.status_code == 400, answer.text[:300]
    assert message in answer.json()["message"]
    assert reference not in references(server)


@pytest.mark.parametrize("case", list(CASES))
def test_bad_body_for_an_existing_notebook_changes_nothing(server, case):
    make, message = CASES[case]
    reference = "kept-" + case.replace(" ", "-").replace(".", "-")
    first = save(server, json.dumps({"reference": reference, "ipynb": notebook("kept = 1")}))
    assert first.status_code == 201, first.text
    answer = save(server, make(reference))
    assert answer.status_code == 400, answer.text[:300]
    assert stored_sources(server, reference) == ["kept = 1"]

"""Cells of Data Notebooks in the portal: state across cells, transactions, history, security."""

from __future__ import annotations

import json

import pytest
import transaction
from Products.Wendelin.errors import MethodNotAllowedError
from Products.Wendelin.jupyter import session
from Products.Wendelin.jupyter.endpoint import check_existing_reference, execute_jupyter
from zExceptions import Forbidden


@pytest.fixture
def notebook(portal):
    return portal.data_notebook_module.newContent(portal_type="Data Notebook", reference="nb-t")


def run(notebook, portal, code, store_history=True):
    return session.execute(notebook, portal, code, store_history=store_history)


def test_variables_functions_classes_and_documents_persist_between_cells(portal, notebook):
    first = run(
        notebook,
        portal,
        "import math\n"
        "class Box:\n    def __init__(self, v):\n        self.v = v\n"
        "def double(x):\n    return 2 * x\n"
        "box = Box(21)\n"
        "stream = context.data_stream_module.newContent(reference='kept')\n"
        "numbers = [1, 2, 3]\n",
    )
    assert first.status == "ok", first.traceback
    assert set(notebook.getVariableNameList()) == {"box", "stream", "numbers"}
    assert set(notebook.getDefinitionNameList()) == {"math", "Box", "double"}
    second = run(notebook, portal, "double(box.v), stream.getReference(), math.floor(2.5)")
    assert second.result["data"]["text/plain"] == "(42, 'kept', 2)"
    # documents come back wrapped in their context, usable like in the first cell
    third = run(notebook, portal, "stream.absolute_url().endswith(stream.getRelativeUrl())")
    assert third.result["data"]["text/plain"] == "True"


def test_failing_cell_leaves_no_trace(portal, notebook):
    run(notebook, portal, "counter = 1")
    before = len(portal.data_stream_module.objectIds())
    cell = run(
        notebook,
        portal,
        "counter = 99\ncontext.data_stream_module.newContent(reference='half')\n1 / 0",
    )
    assert cell.status == "error" and cell.ename == "ZeroDivisionError"
    assert len(portal.data_stream_module.objectIds()) == before
    assert run(notebook, portal, "counter").result["data"]["text/plain"] == "1"


def test_unkeepable_values_are_named_in_the_output(portal, notebook):
    cell = run(notebook, portal, "squares = (i * i for i in range(3))\nfine = 1")
    assert "Not kept for later cells: 'squares'" in cell.stderr
    assert notebook.getVariableNameList() == ["fine"]


def test_history_lines_and_ipynb_built_from_them(portal, notebook):
    run(notebook, portal, "print('hi')\n40 + 2")
    run(notebook, portal, "1 / 0")
    run(notebook, portal, "'not stored'", store_history=False)
    lines = notebook.getNotebookLineList()
    assert [line.getNotebookCode() for line in lines] == ["print('hi')\n40 + 2", "1 / 0"]
    assert lines[0].getNotebookCodeResult() == "hi\n42"
    assert "ZeroDivisionError" in lines[1].getNotebookCodeResult()
    ipynb = notebook.getIpynb()
    assert ipynb["nbformat"] == 4 and ipynb["metadata"]["kernelspec"]["name"] == "erp5"
    outputs = ipynb["cells"][0]["outputs"]
    assert outputs[0] == {"output_type": "stream", "name": "stdout", "text": "hi\n"}
    assert outputs[1]["data"]["text/plain"] == "42"
    assert ipynb["cells"][1]["outputs"][-1]["ename"] == "ZeroDivisionError"


def test_endpoint_runs_code_for_developers_only(portal, site_users, login):
    portal.REQUEST._auth = "Basic test"
    portal.REQUEST.environ["REQUEST_METHOD"] = "POST"
    login("developer")
    reply = json.loads(
        execute_jupyter(portal, python_expression="context.getId()", reference="dev-nb")
    )
    assert reply["status"] == "ok"
    assert reply["displayhook_result"]["data"]["text/plain"] == "'erp5'"
    assert check_existing_reference(portal, "dev-nb") == "dev-nb"
    assert check_existing_reference(portal, "nothing-here") == ""
    login("author")
    with pytest.raises(Forbidden, match="Execute Notebook Code"):
        execute_jupyter(portal, python_expression="1", reference="dev-nb")
    transaction.abort()


def test_code_needs_http_auth_or_the_csrf_token(portal):
    """Without an Authorization header (a cookie session) and without the token: 403."""
    portal.REQUEST._auth = ""
    portal.REQUEST.environ["REQUEST_METHOD"] = "POST"
    with pytest.raises(Forbidden, match="security token"):
        execute_jupyter(portal, python_expression="1", reference="x")


def test_code_runs_on_post_only(portal):
    portal.REQUEST._auth = "Basic test"
    portal.REQUEST.environ["REQUEST_METHOD"] = "GET"
    with pytest.raises(MethodNotAllowedError, match="POST"):
        execute_jupyter(portal, python_expression="1", reference="x")


def test_render_as_html_skin_script(portal):
    html = portal.Base_renderAsHtml("<b>&</b>")
    assert html == "<pre>&lt;b&gt;&amp;&lt;/b&gt;</pre>"
    import matplotlib.figure

    figure = matplotlib.figure.Figure()
    figure.gca().plot([1, 2])
    assert portal.Base_renderAsHtml(figure).startswith('<img src="data:image/png;base64,')


def test_render_as_html_inlines_an_image_document(portal):
    import base64

    import matplotlib.figure
    from Products.Wendelin.analysis.documents import save_image

    figure = matplotlib.figure.Figure(figsize=(2, 1))
    figure.gca().plot([1, 3, 2])
    image = save_image(portal, figure, "render-me", title='<b>"x"</b>')
    html = portal.Base_renderAsHtml(image)
    prefix = '<img src="data:image/png;base64,'
    assert html.startswith(prefix)
    encoded = html[len(prefix) :].split('"', 1)[0]
    assert base64.b64decode(encoded) == image.getData()
    assert 'alt="&lt;b&gt;&quot;x&quot;&lt;/b&gt;"' in html


def test_a_long_running_process_keeps_no_module_and_a_bounded_linecache(portal, notebook):
    """Cells leave no notebook module in sys.modules and at most MAX_SOURCES sources."""
    import linecache
    import sys

    from Products.Wendelin.jupyter import sources

    for n in range(sources.MAX_SOURCES + 40):
        cell = run(notebook, portal, f"def f{n % 3}():\n    return {n}\nf{n % 3}()",
                   store_history=False)
        assert cell.status == "ok", cell.traceback
    assert notebook.getNotebookModuleName() not in sys.modules
    assert sources.kept_count() == sources.MAX_SOURCES
    ours = [name for name in linecache.cache if name.startswith(("<cell-", "<definition"))]
    assert len(ours) <= sources.MAX_SOURCES
    failing = run(notebook, portal, "def broken():\n    return 1 / 0\nbroken()")
    assert "return 1 / 0" in "".join(failing.traceback)  # the cell's lines are still shown

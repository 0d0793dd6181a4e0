"""Running cells: values, output capture per thread, errors, magics and figures."""

from __future__ import annotations

import base64
import threading

import pytest
from Products.Wendelin.jupyter.execution import run_cell

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_final_expression_is_displayed_and_stdout_captured():
    namespace: dict = {}
    cell = run_cell("x = 6\nprint('hello')\nx * 7", namespace)
    assert cell.status == "ok"
    assert cell.stdout == "hello\n"
    assert cell.result == {"data": {"text/plain": "42"}, "metadata": {}}
    assert namespace["x"] == 6


def test_statement_as_last_line_has_no_result_and_stderr_is_captured():
    cell = run_cell("import sys\nsys.stderr.write('careful\\n')\ny = 1", {})
    assert cell.status == "ok"
    assert cell.result is None
    assert cell.stderr == "careful\n"


def test_error_traceback_shows_user_lines_not_server_internals():
    cell = run_cell("def f(n):\n    return 1 / n\n\nf(0)", {})
    assert cell.status == "error"
    assert (cell.ename, cell.evalue) == ("ZeroDivisionError", "division by zero")
    text = "".join(cell.traceback)
    assert "return 1 / n" in text and "f(0)" in text
    assert "execution.py" not in text


def test_syntax_error_is_a_cell_error():
    cell = run_cell("def broken(:\n    pass", {})
    assert cell.status == "error"
    assert cell.ename == "SyntaxError"
    assert any("def broken(" in line for line in cell.traceback)


def test_matplotlib_inline_magic_is_accepted_and_others_refused():
    assert run_cell("%matplotlib inline\n1 + 1", {}).result["data"]["text/plain"] == "2"
    cell = run_cell("%timeit 1 + 1", {})
    assert cell.status == "error" and "%timeit" in cell.evalue
    assert run_cell("!ls", {}).status == "error"


def test_every_figure_of_the_cell_comes_back_as_png_and_is_closed():
    code = (
        "import matplotlib.pyplot as plt\n"
        "plt.plot([1, 2, 3])\n"
        "fig, ax = plt.subplots()\n"
        "ax.bar([1, 2], [3, 4])\n"
        "None\n"
    )
    cell = run_cell(code, {})
    assert cell.status == "ok", cell.traceback
    pngs = [base64.b64decode(d["data"]["image/png"]) for d in cell.displays]
    assert len(pngs) == 2 and all(png.startswith(PNG_MAGIC) for png in pngs)
    import matplotlib.pyplot as plt

    assert plt.get_fignums() == []


def test_figure_as_final_value_is_shown_once():
    code = "import matplotlib.pyplot as plt\nfig = plt.figure()\nfig.gca().plot([0, 1])\nfig"
    cell = run_cell(code, {})
    assert "image/png" in cell.result["data"]
    assert cell.displays == []


def test_rich_reprs_and_display():
    code = (
        "class Table:\n"
        "    def _repr_html_(self):\n"
        "        return '<table><tr><td>1</td></tr></table>'\n"
        "class Note:\n"
        "    def _repr_markdown_(self):\n"
        "        return '**bold**'\n"
        "display(Note())\n"
        "Table()\n"
    )
    from Products.Wendelin.jupyter.display import display

    cell = run_cell(code, {"display": display})
    assert cell.result["data"]["text/html"].startswith("<table>")
    assert cell.displays[0]["data"]["text/markdown"] == "**bold**"


def test_output_of_concurrent_cells_does_not_mix():
    barrier = threading.Barrier(2)
    results = {}

    def worker(name: str) -> None:
        code = f"for i in range(200):\n    print('{name}')\n    if i == 100: barrier.wait()"
        results[name] = run_cell(code, {"barrier": barrier})

    threads = [threading.Thread(target=worker, args=(name,)) for name in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results["a"].stdout == "a\n" * 200
    assert results["b"].stdout == "b\n" * 200


@pytest.mark.parametrize("code", ["raise SystemExit(3)", "exit()"])
def test_exiting_is_an_error_not_a_server_exit(code):
    cell = run_cell(code, {"exit": exit})
    assert cell.status == "error" and cell.ename == "SystemExit"


@pytest.mark.parametrize(
    "code, ename",
    [
        ("raise KeyboardInterrupt('stop')", "KeyboardInterrupt"),
        ("raise GeneratorExit()", "GeneratorExit"),
        ("def g():\n    yield 1\nit = g()\nnext(it)\nit.throw(GeneratorExit)", "GeneratorExit"),
        ("class Out(BaseException):\n    pass\nraise Out('x')", "Out"),
    ],
)
def test_base_exceptions_of_the_users_code_are_cell_errors(code, ename):
    """BaseException subclasses never escape the cell: they are its reported error."""
    cell = run_cell(code, {})
    assert (cell.status, cell.ename) == ("error", ename)
    assert cell.traceback and ename in cell.traceback[-1]


@pytest.mark.parametrize("error", ["ConflictError", "ReadConflictError"])
def test_zodb_conflicts_propagate_to_be_retried(error):
    """A conflict is not the cell's failure: it reaches the publisher, which retries."""
    from ZODB import POSException

    with pytest.raises(getattr(POSException, error)):
        run_cell(f"from ZODB.POSException import {error}\nraise {error}()", {})


def test_streams_are_installed_once_and_dispatch_by_context():
    """No cell swaps sys.stdout; output goes to the capture of the writing context."""
    import contextvars
    import sys

    from Products.Wendelin.jupyter import install_process_hooks
    from Products.Wendelin.jupyter.capture import capturing

    install_process_hooks()
    installed = sys.stdout
    with capturing() as capture:
        assert sys.stdout is installed
        print("in the cell")
        context = contextvars.copy_context()
        helper = threading.Thread(target=context.run, args=(print, "helper of the cell"))
        helper.start()
        helper.join()
        other = threading.Thread(target=print, args=("another request",))
        other.start()
        other.join()
    assert sys.stdout is installed
    assert capture.stdout.getvalue() == "in the cell\nhelper of the cell\n"


def test_a_cells_output_is_bounded_with_a_note_naming_the_setting():
    """150 MiB printed grew the server process by 4x the output: a cell keeps at most
    WENDELIN_CELL_OUTPUT characters per stream and bytes of displays."""
    from Products.Wendelin.jupyter.capture import OUTPUT_LIMIT

    cell = run_cell(f"print('z' * {OUTPUT_LIMIT + 12345})\n"
                    "import sys\nsys.stderr.write('e' * 10)", {})
    assert cell.status == "ok"
    assert cell.stdout.startswith("z" * OUTPUT_LIMIT)
    assert len(cell.stdout) < OUTPUT_LIMIT + 300
    assert "12346 more characters not shown" in cell.stdout  # the newline counts too
    assert "WENDELIN_CELL_OUTPUT" in cell.stdout
    assert cell.stderr == "e" * 10
    from Products.Wendelin.jupyter.display import HTMLString, display

    shown = run_cell(f"for i in range(3):\n    display(HTMLString('d' * {OUTPUT_LIMIT // 5}))",
                     {"display": display, "HTMLString": HTMLString})
    assert [len(b["data"].get("text/html", "")) for b in shown.displays[:2]] == [
        OUTPUT_LIMIT // 5] * 2  # each also has its text/plain: about 2/5 of the limit
    assert "not shown" in shown.displays[2]["data"]["text/plain"]  # the third is too much

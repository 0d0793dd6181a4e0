"""The real ERP5 kernel (through jupyter_client) against the real server."""

from __future__ import annotations

import base64
import time

from kernel_helpers import PASSWORD, Server, add_user, banner_line, free_port


def test_environment_defaults_need_no_magics(site_kernel):
    kernel = site_kernel("kernel-env")
    cell = kernel.run("print('hello from', context.getId())\ncontext.getId()")
    assert cell.status == "ok", cell.outputs
    assert (cell.stream("stdout"), cell.result) == ("hello from erp5\n", "'erp5'")
    info = kernel.run("%erp5_info").stream()
    assert "reference:  kernel-env" in info and PASSWORD not in info


def test_outputs_are_proper_jupyter_messages(site_kernel):
    kernel = site_kernel("kernel-outputs")
    cell = kernel.run("import sys\nprint('out')\nprint('err', file=sys.stderr)\n6 * 7")
    assert cell.status == "ok"
    assert (cell.stream("stdout"), cell.stream("stderr"), cell.result) == ("out\n", "err\n", "42")
    assert cell.of("execute_result")[0]["execution_count"] == cell.reply["execution_count"]
    html = kernel.run("class H:\n    def _repr_html_(self):\n        return '<b>x</b>'\nH()")
    assert html.of("execute_result")[0]["data"]["text/html"] == "<b>x</b>"


def test_error_cell_gives_an_error_message(site_kernel):
    kernel = site_kernel("kernel-errors")
    cell = kernel.run("x = 1\n1 / 0")
    assert cell.status == "error"
    assert (cell.reply["ename"], cell.error["ename"]) == ("ZeroDivisionError", "ZeroDivisionError")
    assert "division by zero" in cell.error["evalue"]
    assert any("1 / 0" in line for line in cell.error["traceback"])
    assert kernel.run("'still alive'").result == "'still alive'"


def test_magics_flow_from_nothing_to_running_code(site, start_kernel):
    kernel = start_kernel()  # no ERP5_* environment, no notebook opened by Jupyter
    missing = kernel.run("context.getId()")
    assert missing.status == "error"
    assert missing.error["ename"] == "ERP5ConfigurationError"
    for magic in ("%erp5_url", "%erp5_user", "%erp5_password", "%notebook_set_reference"):
        assert magic in missing.error["evalue"]
    bad = kernel.run("%erp5_url localhost:8080")
    assert bad.error["ename"] == "ERP5ConfigurationError"
    assert "'localhost:8080'" in bad.error["evalue"]
    partial = kernel.run(f"%erp5_url {site.url}/Base_executeJupyter\n%erp5_user zope")
    assert partial.status == "ok"
    assert f"ERP5 URL set to {site.url}." in partial.stream()
    assert "%erp5_password" in partial.stream() and "%notebook_set_reference" in partial.stream()
    connected = kernel.run(
        f"%erp5_password {PASSWORD}\n%notebook_set_reference kernel-magics\n"
        "%notebook_set_title Magic notebook"
    )
    assert connected.status == "ok", connected.outputs
    assert "Connected to" in connected.stream() and "'kernel-magics' (new)" in connected.stream()
    assert kernel.run("context.getId()").result == "'erp5'"
    listing = kernel.run("%my_notebooks").stream()
    assert "kernel-magics" in listing and "Magic notebook" in listing
    # a second kernel on the same reference finds it existing, with its variables
    kernel.run("shared = 'kept'")
    other = start_kernel(JPY_SESSION_NAME="kernel-magics.ipynb")
    joined = other.run(f"%erp5_url {site.url}\n%erp5_user zope\n%erp5_password {PASSWORD}")
    assert "'kernel-magics' (existing)" in joined.stream()
    assert other.run("shared").result == "'kept'"


def test_wrong_password_then_fixed(site, site_kernel):
    kernel = site_kernel("kernel-401", ERP5_PASSWORD="not-the-password")
    cell = kernel.run("1 + 1")
    assert cell.error["ename"] == "ERP5AuthenticationError"
    assert "401" in cell.error["evalue"] and "'zope'" in cell.error["evalue"]
    assert "%erp5_password" in cell.error["evalue"]
    assert kernel.run(f"%erp5_password {PASSWORD}").status == "ok"
    assert kernel.run("1 + 1").result == "2"


def test_user_without_the_permission_is_told_why(site, site_kernel):
    user, password = add_user(site, "kernel-author", ["Author"])
    kernel = site_kernel("kernel-403", ERP5_USER=user, ERP5_PASSWORD=password)
    cell = kernel.run("context.getId()")
    assert cell.error["ename"] == "ERP5Forbidden"
    assert "403" in cell.error["evalue"] and "'kernel-author'" in cell.error["evalue"]
    assert "Wendelin: Execute Notebook Code" in cell.error["evalue"]  # the server's message
    developer, dev_password = add_user(site, "kernel-developer", ["Developer"])
    allowed = site_kernel("kernel-dev", ERP5_USER=developer, ERP5_PASSWORD=dev_password)
    assert allowed.run("6 * 7").result == "42"


def test_unreachable_server(site_kernel):
    url = f"http://127.0.0.1:{free_port()}/erp5"
    kernel = site_kernel("kernel-unreachable", ERP5_URL=url)
    cell = kernel.run("1")
    assert cell.error["ename"] == "ERP5ConnectionError"
    assert url in cell.error["evalue"] and "refused" in cell.error["evalue"]


def test_matplotlib_figure_is_display_data_png(site_kernel):
    kernel = site_kernel("kernel-plot")
    cell = kernel.run("%matplotlib inline\nimport matplotlib.pyplot as plt\nplt.plot([1, 3, 2])")
    assert cell.status == "ok", cell.outputs
    images = [d for d in cell.of("display_data") if "image/png" in d["data"]]
    assert len(images) == 1
    assert base64.b64decode(images[0]["data"]["image/png"]).startswith(b"\x89PNG")


def test_variables_persist_across_a_server_restart(tmp_path, start_kernel):
    server = Server(tmp_path / "restart-instance", {"WENDELIN_JUPYTER": "0"})
    server.start()
    try:
        # WENDELIN_JUPYTER=0: no Jupyter at all
        banner_line(server, "Press Ctrl-C to stop.")
        assert "jupyter:" not in "".join(server.output)
        assert not (tmp_path / "restart-instance" / "var" / "jupyter").exists()
        kernel = start_kernel(
            ERP5_URL=server.url,
            ERP5_USER="zope",
            ERP5_PASSWORD=PASSWORD,
            JPY_SESSION_NAME="kernel-restart.ipynb",
        )
        assert kernel.run("def double(v):\n    return 2 * v\nanswer = 21").status == "ok"
        server.restart()  # a new random port: the kernel is pointed at it
        assert kernel.run(f"%erp5_url {server.url}").status == "ok"
        assert kernel.run("double(answer)").result == "42"
    finally:
        server.stop()


def test_malformed_environment_is_reported_not_fatal(site_kernel):
    kernel = site_kernel("kernel-bad-env", ERP5_URL="nonsense")
    first = kernel.run("1")
    assert "ERP5_URL ignored" in first.stream("stderr") and "'nonsense'" in first.stream("stderr")
    assert first.error["ename"] == "ERP5ConfigurationError" and "%erp5_url" in first.error["evalue"]
    assert kernel.run("1").stream("stderr") == ""  # said once


def test_interrupt_stops_the_cell_on_the_server_and_keeps_the_kernel(site_kernel):
    kernel = site_kernel("kernel-interrupt")
    assert kernel.run("kept = 'before'").status == "ok"
    msg_id = kernel.client.execute("import time\ntime.sleep(30)\n'slept'")
    time.sleep(1.5)  # the cell is running on the server
    kernel.manager.interrupt_kernel()
    reply = kernel.client.get_shell_msg(timeout=30)
    assert reply["parent_header"]["msg_id"] == msg_id
    assert (reply["content"]["status"], reply["content"]["ename"]) == ("error", "KeyboardInterrupt")
    # the server's own traceback: the cell stopped there, in the user's line
    assert "time.sleep(30)" in "".join(reply["content"]["traceback"])
    assert kernel.run("kept").result == "'before'"

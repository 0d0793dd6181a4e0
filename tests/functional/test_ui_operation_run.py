"""The Data Operation page's Run form: CSRF-protected, runs the operation, lists its runs."""

from __future__ import annotations


def _operation_url(ui, reference: str) -> str:
    reply = ui.run(
        "context.portal_catalog.getResultValue(portal_type='Data Operation', "
        f"reference={reference!r}).absolute_url()"
    )
    return reply["displayhook_result"]["data"]["text/plain"].strip("'")


def test_run_form_runs_the_operation_and_lists_the_run(ui):
    stream = ui.server.create("data_stream_module", reference="run-form.wav")
    admin = ui.server.session()
    put = admin.put(
        stream["url"], data=ui.wav(), headers={"Content-Type": "application/octet-stream"}
    )
    assert put.status_code in (200, 204)
    url = _operation_url(ui, "extract-channel")
    browser = ui.login()
    page = browser.get(url + "/view").text
    assert 'action="' + url + '/DataOperation_run"' in page
    forged = browser.post(
        url + "/DataOperation_run", data={"input": "run-form.wav"}, allow_redirects=False
    )
    assert forged.status_code == 403  # no CSRF token: refused, nothing ran
    answer = browser.post(
        url + "/DataOperation_run",
        data={"_csrf": ui.csrf(page), "input": "run-form.wav", "parameters": '{"channel": 1}'},
        allow_redirects=False,
    )
    assert answer.status_code == 303 and "status=run-succeeded" in answer.headers["Location"]
    page = browser.get(answer.headers["Location"]).text
    assert "The operation ran" in page
    assert 'class="status succeeded"' in page and "data_array_module/" in page
    assert page.count('class="status ') == 1  # the forged post left no run


def test_failed_run_is_shown_and_bad_forms_are_refused(ui):
    ui.server.create("data_stream_module", reference="not-a-recording")
    url = _operation_url(ui, "extract-channel")
    browser = ui.login()
    page = browser.get(url + "/view").text
    token = ui.csrf(page)
    failed = browser.post(
        url + "/DataOperation_run",
        data={"_csrf": token, "input": "not-a-recording"},
        allow_redirects=False,
    )
    assert failed.status_code == 303 and "status=run-failed" in failed.headers["Location"]
    page = browser.get(failed.headers["Location"]).text
    assert 'class="status failed"' in page and "AudioFormatError" in page
    for data in ({"input": "no-such-reference"}, {"input": "run-form.wav", "parameters": "{"}):
        bad = browser.post(url + "/DataOperation_run", data={"_csrf": token, **data})
        assert bad.status_code == 400


def test_document_breadcrumb_names_its_module(ui):
    made = ui.server.create("data_array_module", title="Crumb test", reference="crumb")
    page = ui.login().get(made["url"] + "/view").text
    crumbs = page.split('class="breadcrumbs"', 1)[1].split("</nav>", 1)[0]
    assert ">Data Arrays</a>" in crumbs and "Crumb test" not in crumbs

"""Stored and reflected XSS: payloads in every user-editable field, every page opened in Chromium.

Payloads call ``__xss(tag)``; the browser defines it before any page script and records
calls and Content-Security-Policy violations of scripts (an injected handler the CSP
blocked is still an injection). Script tags also beacon to the attacker's server, which
catches scripts that ran where the init script could not (sandboxed raw bytes). The DOM is
searched for injected elements, event-handler attributes and ``javascript:`` URLs.
"""

from __future__ import annotations

import base64
import http.server
import json
import threading
from typing import Any
from urllib.parse import quote

import pytest
from security_conftest import TALLY, browser_login, empty_ipynb

INIT = """
window.__xss_hits = [];
window.__xss = function (tag) { window.__xss_hits.push('ran:' + tag); };
document.addEventListener('securitypolicyviolation', function (e) {
  if (String(e.violatedDirective).indexOf('script') === 0) {
    window.__xss_hits.push('csp:' + e.violatedDirective + ':' + e.blockedURI);
  }
});
"""
#: What the DOM must not contain after rendering stored or reflected payloads.
DOM_CHECK = """
() => {
  const bad = [];
  for (const el of document.querySelectorAll('*')) {
    for (const attr of el.attributes) {
      const name = attr.name.toLowerCase(), value = attr.value.replace(/[\\s\\x00-\\x1f]/g, '')
        .toLowerCase();
      if (name.startsWith('on')) bad.push(el.tagName + '[' + name + ']');
      if (['href', 'src', 'action', 'formaction', 'xlink:href', 'data'].includes(name) &&
          (value.startsWith('javascript:') || value.startsWith('vbscript:') ||
           value.startsWith('data:text'))) bad.push(el.tagName + '[' + name + '=' + value + ']');
    }
    const tag = el.tagName.toLowerCase();
    if (tag === 'script' && !el.src) bad.push('inline script: ' + el.textContent.slice(0, 40));
    if (['iframe', 'object', 'embed', 'svg', 'math', 'base', 'meta'].includes(tag) &&
        (el.outerHTML.includes('xss') || tag === 'iframe')) bad.push(tag);
  }
  return bad.concat(window.__xss_hits || []);
}
"""


class _Beacon(http.server.BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        self.hits.append(self.path)
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def beacon():
    """The attacker's collector: a script that runs anywhere calls it."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Beacon)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def payloads(tag: str, beacon: str) -> list[str]:
    """Markup and URL payloads for one field, each naming the field when it runs."""
    script = f"__xss('{tag}');new Image().src='{beacon}/{tag}'"
    return [
        f"<script>{script}</script>",
        f'"><img src=x onerror=__xss("{tag}-img")>',
        f"<svg onload=__xss('{tag}-svg')>",
        f"javascript:__xss('{tag}-js')",
        f"'><a href=\"javascript:__xss('{tag}-a')\">x</a><iframe src=\"javascript:__xss(1)\">",
        f"</textarea></title><script>{script}</script>",
    ]


@pytest.fixture(scope="module")
def stored(site, wav, beacon) -> dict[str, Any]:
    """Documents of every type whose user-editable fields carry payloads (made by an Author
    or a Developer), and the URLs of every page that shows them."""
    author, developer = site.basic("author"), site.basic("developer")
    pages: list[str] = [f"{site.url}/view"]
    raw: list[str] = []
    for module in ("data_stream_module", "data_array_module", "image_module",
                   "data_operation_module", "data_notebook_module"):
        pages.append(f"{site.url}/{module}/view")
    for index, (title, reference, description) in enumerate(zip(
            payloads("title", beacon), payloads("ref", beacon), payloads("desc", beacon),
            strict=True)):
        for module in ("data_stream_module", "data_array_module", "image_module"):
            made = author.post(f"{site.url}/{module}/newContentFromJSON", data=json.dumps(
                {"title": title, "reference": f"{reference}-{index}", "description":
                 description}), headers={"Content-Type": "application/json"})
            TALLY.tries += 1
            if made.status_code == 201:
                pages.append(made.json()["url"] + "/view")
    # Data Operations: title, script id and parameters are shown on the page
    for index, payload in enumerate(payloads("op", beacon)):
        made = author.post(f"{site.url}/data_operation_module/newContentFromJSON", data=json.dumps(
            {"title": payload, "reference": f"xss-op-{index}", "script_id": payload,
             "parameter_dict": {payload: payload, "n": payload}}),
            headers={"Content-Type": "application/json"})
        TALLY.tries += 1
        if made.status_code == 201:
            pages.append(made.json()["url"] + "/view")
    # upload file names
    for index, payload in enumerate(payloads("file", beacon)):
        answer = author.post(f"{site.url}/data_stream_module/DataStreamModule_upload",
                             files={"file": (f"{payload}{index}.wav", wav)},
                             headers={"Accept": "application/json"})
        TALLY.tries += 1
        if answer.status_code == 201:
            pages.append(answer.json()["url"] + "/view")
    # streams whose bytes are active content, with dangerous declared types
    active = (f"<html><body><script>{payloads('raw', beacon)[0][8:-9]}</script>"
              f"<svg xmlns='http://www.w3.org/2000/svg' onload=\"__xss('raw-svg')\"/>"
              "</body></html>").encode()
    for kind in ("text/html", "image/svg+xml", "application/xhtml+xml", "text/xml",
                 "application/octet-stream", "text/plain"):
        made = author.post(f"{site.url}/data_stream_module/newContentFromJSON",
                           data=json.dumps({"reference": f"xss-raw-{kind}", "content_type": kind}),
                           headers={"Content-Type": "application/json"})
        TALLY.tries += 1
        if made.status_code == 201:
            author.put(made.json()["url"], data=active,
                       headers={"Content-Type": "application/octet-stream"})
            raw.append(made.json()["url"])
            pages.append(made.json()["url"] + "/view")
    # notebooks: markdown cells, code cells and their outputs (saved from "Jupyter")
    cells = []
    for payload in payloads("cell", beacon):
        cells.append({"cell_type": "markdown", "metadata": {}, "source": payload, "id": "m"})
        cells.append({
            "cell_type": "code", "metadata": {}, "source": payload, "execution_count": 1,
            "outputs": [
                {"output_type": "display_data", "metadata": {},
                 "data": {"text/html": payload, "text/plain": payload}},
                {"output_type": "display_data", "metadata": {},
                 "data": {"image/svg+xml": base64.b64encode(
                     f"<svg xmlns='http://www.w3.org/2000/svg' onload=\"{payload}\"/>".encode()
                 ).decode()}},
                {"output_type": "execute_result", "metadata": {}, "execution_count": 1,
                 "data": {"text/markdown": f"[x]({payload}) {payload}"}},
                {"output_type": "stream", "name": "stdout", "text": payload},
                {"output_type": "error", "ename": payload, "evalue": payload,
                 "traceback": [payload]},
            ],
        })
    for index, cell in enumerate(cells):
        cell["id"] = f"c{index}"
    saved = author.post(f"{site.url}/data_notebook_module/DataNotebookModule_saveNotebook",
                        data=json.dumps({"reference": "xss-notebook", "title": payloads(
                            "nbtitle", beacon)[0], "ipynb": empty_ipynb(cells)}),
                        headers={"Content-Type": "application/json"})
    TALLY.tries += 1
    assert saved.status_code in (200, 201), saved.text[:300]
    pages.append(saved.json()["url"] + "/view")
    # cells run on the server whose outputs carry payloads (rich display, print)
    shown = payloads("run", beacon)[1] + payloads("run", beacon)[0]
    printed = payloads("print", beacon)[0]
    code = (f"class Shown:\n    def _repr_html_(self):\n        return {shown!r}\n"
            f"print({printed!r})\nShown()")
    answer = developer.post(f"{site.url}/Base_executeJupyter",
                            data={"python_expression": code, "reference": "xss-run"})
    TALLY.tries += 1
    assert answer.status_code == 200, answer.text[:300]
    url = site.run("print(context.portal_catalog.getResultValue(portal_type='Data Notebook', "
                   "reference='xss-run').absolute_url())").strip()
    pages.append(url + "/view")
    # reflected: search, filters, sort keys, error pages, login's came_from
    for payload in payloads("q", beacon)[:3]:
        quoted = quote(payload, safe="")
        pages += [f"{site.url}/data_stream_module/view?q={quoted}",
                  f"{site.url}/data_stream_module/view?reference={quoted}&sort_on={quoted}",
                  f"{site.url}/{quoted}", f"{site.url}/data_stream_module/{quoted}/view",
                  f"{site.url}/view?status={quoted}"]
    return {"pages": pages, "raw": raw}


@pytest.fixture(scope="module")
def manager_page(site, chromium):
    """A Manager's logged-in browser page recording script execution."""
    context = chromium.new_context()
    context.add_init_script(INIT)
    page = browser_login(context, site, "manager")
    yield page
    context.close()


def _findings(page: Any, url: str) -> list[str]:
    try:
        page.goto(url, wait_until="load")
    except Exception as error:  # a download (attachment) is not a page: nothing ran
        if "Download is starting" in str(error):
            return []
        raise
    page.wait_for_timeout(50)
    return page.evaluate(DOM_CHECK)


def test_stored_and_reflected_payloads_never_run(site, stored, manager_page, beacon) -> None:
    """Every page that shows a payload renders it as text: nothing runs, nothing injected."""
    problems = []
    for url in stored["pages"]:
        TALLY.tries += 1
        found = _findings(manager_page, url)
        if found:
            TALLY.note("leaks", f"XSS {url}: {found[:3]}")
            problems.append(f"{url}: {found[:5]}")
    assert not problems, "\n".join(problems)
    assert not _Beacon.hits, f"scripts ran and called the attacker: {_Beacon.hits}"


def test_raw_bytes_of_active_content_never_run(site, stored, manager_page, beacon) -> None:
    """Streams holding HTML/SVG with dangerous declared types are served inert."""
    assert stored["raw"], "no stream could be stored at all"
    problems = []
    for url in stored["raw"]:
        TALLY.tries += 1
        found = _findings(manager_page, url)
        if found:
            problems.append(f"{url}: {found[:5]}")
    manager_page.wait_for_timeout(200)
    assert not _Beacon.hits, f"stored bytes ran as script: {_Beacon.hits}"
    assert not problems, "\n".join(problems)


def test_login_came_from_cannot_be_a_script_url(site, chromium) -> None:
    """``came_from=javascript:...`` never becomes the place the login sends the browser."""
    context = chromium.new_context()
    context.add_init_script(INIT)
    page = context.new_page()
    try:
        for target in ("javascript:__xss('came')", "//evil.example/", "data:text/html,x"):
            TALLY.tries += 1
            page.goto(f"{site.url}/login_form?came_from={quote(target, safe='')}")
            found = page.evaluate(DOM_CHECK)
            assert not found, (target, found)
            field = page.locator("input[name=came_from]")
            if field.count():
                assert field.first.get_attribute("value").startswith(site.url), target
    finally:
        context.close()

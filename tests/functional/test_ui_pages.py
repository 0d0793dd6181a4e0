"""Web UI pages over HTTP: start page, listings, document views, previews, deletion."""

import html
import io
import re

import numpy as np
import pytest
import requests


@pytest.fixture(scope="module")
def browser(ui):
    return ui.login()


def _rows(page: str) -> list[str]:
    """Ids of the listing's rows, in order."""
    return re.findall(r'<tr data-id="([^"]+)"', page)


def test_start_page_lists_modules_with_counts_and_recent_documents(ui, browser):
    ui.server.create("data_operation_module", title="Recent operation", reference="recent-op")
    page = browser.get(ui.url).text
    for module in ("data_stream_module", "data_array_module", "data_notebook_module",
                   "data_operation_module", "image_module"):
        assert f'data-module="{module}"' in page
    count = re.search(r'data-module="data_operation_module">.*?class="count">(\d+)<', page, re.S)
    assert int(count.group(1)) >= 1
    assert "Recent operation" in page.split("Recent documents", 1)[1]
    assert 'data-module="image_module"' in browser.get(f"{ui.url}/view").text  # ERP5's name


def test_listing_search_filter_sort_and_pages(ui, browser):
    admin = ui.server.session()
    made = [
        ui.server.create("data_operation_module", admin, title=f"Listing {name}",
                         reference=f"lst-{name}", description=f"zebra{i % 2}")
        for i, name in enumerate(["delta", "alpha", "charlie", "bravo", "echo"])
    ]
    base = f"{ui.url}/data_operation_module/view"
    filtered = browser.get(base, params={"reference": "lst-", "sort": "title",
                                         "order": "ascending", "size": "20"}).text
    titles = re.findall(r'class="title"><a [^>]*>Listing (\w+)</a>', filtered)
    assert titles == ["alpha", "bravo", "charlie", "delta", "echo"]
    assert 'aria-sort="ascending"' in filtered
    descending = browser.get(base, params={"reference": "lst-", "sort": "title",
                                           "order": "descending"}).text
    assert re.findall(r"Listing (\w+)</a>", descending)[0] == "echo"
    search = browser.get(base, params={"q": "zebra1"}).text
    assert sorted(re.findall(r"Listing (\w+)</a>", search)) == ["alpha", "bravo"]
    prefix = browser.get(base, params={"q": "charl"}).text
    assert re.findall(r"Listing (\w+)</a>", prefix) == ["charlie"]
    by_id = browser.get(base, params={"reference": "lst-", "sort": "id", "order": "ascending"})
    assert _rows(by_id.text) == [m["id"] for m in made]
    first = browser.get(base, params={"reference": "lst-", "sort": "title",
                                      "order": "ascending", "size": "20", "start": "0"}).text
    assert "1–5" in first and "of 5" in first
    # Page size 20 is the smallest choice: create enough to page through.
    for i in range(21):
        ui.server.create("data_operation_module", admin, title=f"Pg {i:02d}",
                         reference=f"pg-{i:02d}")
    one = browser.get(base, params={"reference": "pg-", "sort": "reference",
                                    "order": "ascending", "size": "20"}).text
    assert re.findall(r'class="mono reference">(pg-\d+)<', one)[0] == "pg-00"
    assert len(_rows(one)) == 20 and 'rel="next"' in one and 'rel="prev"' not in one
    next_href = html.unescape(re.search(r'rel="next"\s+href="([^"]+)"', one).group(1))
    two = browser.get(next_href).text
    assert re.findall(r'class="mono reference">(pg-\d+)<', two) == ["pg-20"]
    assert 'rel="prev"' in two and "21–21" in two


def test_listing_survives_odd_parameters(ui, browser):
    response = browser.get(f"{ui.url}/data_operation_module/view",
                           params={"sort": "nope", "order": "x", "start": "-4", "size": "9999",
                                   "q": 'AND OR ( "'})
    assert response.status_code == 200


def test_delete_asks_for_confirmation_then_deletes(ui, browser):
    one = ui.server.create("image_module", title="doomed one", reference="doomed-1")
    two = ui.server.create("image_module", title="doomed two", reference="doomed-2")
    keep = ui.server.create("image_module", title="kept", reference="kept")
    listing = browser.get(f"{ui.url}/image_module/view").text
    token = ui.csrf(listing)
    url = f"{ui.url}/image_module/Module_deleteSelected"
    dialog = browser.post(url, data={"_csrf": token, "ids:list": [one["id"], two["id"]]})
    assert dialog.status_code == 200 and "This cannot be undone" in dialog.text
    assert "doomed one" in dialog.text and "doomed two" in dialog.text
    assert browser.get(one["url"] + "/view").status_code == 200  # nothing deleted yet
    done = browser.post(url, data={"_csrf": token, "ids:list": [one["id"], two["id"]],
                                   "confirm": "1"}, allow_redirects=False)
    assert done.status_code == 303 and done.headers["Location"].endswith("status=deleted")
    admin = ui.server.session()
    assert admin.get(one["url"] + "/view").status_code == 404
    assert admin.get(two["url"] + "/view").status_code == 404
    assert admin.get(keep["url"] + "/view").status_code == 200
    after = browser.get(f"{ui.url}/image_module/view").text
    assert "doomed" not in after and "kept" in after
    forged = browser.post(url, data={"ids:list": [keep["id"]], "confirm": "1"})
    assert forged.status_code == 403 and admin.get(keep["url"] + "/view").status_code == 200


def test_titles_and_references_are_escaped_everywhere(ui, browser):
    evil = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    made = ui.server.create("data_stream_module", title=evil, reference=evil + "ref",
                            description=evil)
    for page in (browser.get(made["url"] + "/view").text,
                 browser.get(f"{ui.url}/data_stream_module/view").text,
                 browser.get(ui.url).text):
        assert "<script>alert" not in page and "<img src=x" not in page
        assert "&lt;script&gt;" in page


def test_edit_form_saves_title_reference_description(ui, browser):
    made = ui.server.create("data_array_module", title="before", reference="edit-before")
    page = browser.get(made["url"] + "/view").text
    assert "Edit properties" in page
    saved = browser.post(made["url"] + "/Base_edit", allow_redirects=False, data={
        "_csrf": ui.csrf(page), "title": "after", "reference": "edit-after",
        "description": "now described"})
    assert saved.status_code == 303
    page = browser.get(saved.headers["Location"]).text
    assert "<h1>after</h1>" in page and "edit-after" in page and "now described" in page
    assert "Changes saved." in page
    found = browser.get(f"{ui.url}/data_array_module/view", params={"reference": "edit-after"})
    assert made["id"] in _rows(found.text)


def test_data_stream_view_with_audio_player_and_cached_waveform(ui, browser):
    wav = ui.wav(seconds=2.0, rate=8000, channels=2)
    created = ui.server.session().post(
        f"{ui.url}/data_stream_module/DataStreamModule_upload",
        files={"file": ("pages.wav", wav, "audio/wav")}, headers={"Accept": "application/json"},
    ).json()
    page = browser.get(created["url"] + "/view").text
    assert 'class="duration">2.0 s<' in page and 'class="channels">2<' in page
    assert "8000</span> Hz" in page or "8000 Hz" in page
    assert "<audio controls" in page and f'src="{created["url"]}"' in page
    assert 'type="audio/wav"' in page
    first = browser.get(created["url"] + "/DataStream_viewWaveform")
    second = browser.get(created["url"] + "/DataStream_viewWaveform")
    assert first.headers["Content-Type"] == "image/png"
    assert first.content[:8] == b"\x89PNG\r\n\x1a\n"
    assert first.headers["X-Wendelin-Cache"] in ("miss", "hit")
    assert second.headers["X-Wendelin-Cache"] == "hit" and second.content == first.content
    ranged = browser.get(created["url"], headers={"Range": "bytes=0-11"})
    assert ranged.status_code == 206 and ranged.content == wav[:12]
    listing = browser.get(f"{ui.url}/data_stream_module/view", params={"reference": "pages.wav"})
    assert 'class="duration">2.0 s<' in listing.text


def test_non_audio_stream_view_says_so_and_has_no_waveform(ui, browser):
    made = ui.server.create("data_stream_module", title="bytes", reference="plain-bytes")
    ui.server.session().put(made["url"], data=b"not audio at all",
                            headers={"Content-Type": "application/octet-stream"})
    page = browser.get(made["url"] + "/view").text
    assert "Not shown as audio" in page and "<audio" not in page
    assert browser.get(made["url"] + "/DataStream_viewWaveform").status_code == 404


def test_data_array_view_plot_rows_and_npy(ui, browser):
    ui.run(
        "import numpy as np\n"
        "a = context.data_array_module.newContent(reference='ui-array-1d', title='Ramp')\n"
        "a.initArray((100000,), 'float64')\n"
        "a.getArray()[:] = np.linspace(0, 1, 100000)\n"
        "b = context.data_array_module.newContent(reference='ui-array-2d', title='Grid')\n"
        "b.initArray((500, 40), 'int32')\n"
        "b.getArray()[:] = np.arange(20000, dtype='int32').reshape(500, 40)\n"
    )
    admin = ui.server.session()
    listing = browser.get(f"{ui.url}/data_array_module/view", params={"reference": "ui-array"})
    ids = _rows(listing.text)
    assert len(ids) == 2
    for array_id in ids:
        url = f"{ui.url}/data_array_module/{array_id}"
        page = browser.get(url + "/view").text
        plot = browser.get(url + "/DataArray_viewPlot")
        assert plot.status_code == 200 and plot.content[:4] == b"\x89PNG"
        npy = admin.get(url)
        assert npy.content[:6] == b"\x93NUMPY"
        if "Ramp" in page:
            assert 'class="shape mono">100000<' in page and 'class="dtype mono">float64<' in page
            assert ">1.00001e-05<" in page  # second value of the ramp in the first rows
        else:
            assert 'class="shape mono">500 × 40<' in page and "int32" in page
            assert '<td class="num mono">7</td>' in page
            assert np.load(io.BytesIO(npy.content)).sum() == np.arange(20000).sum()


def test_image_view_falls_back_without_picture(ui, browser):
    made = ui.server.create("image_module", title="A plot", reference="ui-image")
    page = browser.get(made["url"] + "/view").text
    assert "This Image has no picture stored yet." in page and "<h1>A plot</h1>" in page
    # the Image's own URL serves the picture; without one it says so with a 404
    assert browser.get(made["url"]).status_code == 404


def test_notebook_view_shows_cells_sanitised_and_jupyter_link(ui, browser):
    ui.run("print('hello from the notebook')", reference="ui-notebook")
    ui.run(
        "class Evil:\n"
        "    def _repr_html_(self):\n"
        "        return '<b>bold</b><script>alert(1)</script><img src=x onerror=alert(2)>'\n"
        "Evil()",
        reference="ui-notebook",
    )
    found = browser.get(f"{ui.url}/data_notebook_module/view", params={"reference": "ui-notebook"})
    (notebook_id,) = _rows(found.text)
    page = browser.get(f"{ui.url}/data_notebook_module/{notebook_id}/view").text
    assert "print(&#x27;hello from the notebook&#x27;)" in page or "print('hello" in page
    assert "hello from the notebook" in page
    outputs = "".join(re.findall(r'<div class="out-html">(.*?)</div>', page, re.S))
    assert "<b>bold</b>" in outputs
    assert "<script" not in outputs and "onerror" not in outputs and "<img" in outputs
    assert "<script>alert" not in page
    assert "Open in Jupyter" in page
    assert re.search(r'href="http://127\.0\.0\.1:\d+/notebooks/ui-notebook\.ipynb"', page)


def test_image_view_shows_a_saved_picture(ui, browser):
    ui.run(
        "import matplotlib\nmatplotlib.use('Agg')\nfrom matplotlib.figure import Figure\n"
        "figure = Figure(figsize=(4, 3), dpi=50)\nfigure.add_subplot().plot([1, 3, 2])\n"
        "context.Base_saveImage(figure, 'ui-saved-plot.png', title='Saved plot')\n"
    )
    found = browser.get(f"{ui.url}/image_module/view", params={"reference": "ui-saved-plot"})
    (image_id,) = _rows(found.text)
    url = f"{ui.url}/image_module/{image_id}"
    page = browser.get(url + "/view").text
    assert re.search(rf'<img src="{url}/index_html" alt="Saved plot" width="\d+" height="\d+">',
                     page)
    assert re.search(r"\d+ × \d+ pixels · image/png", page)
    picture = browser.get(url + "/index_html")
    assert picture.headers["Content-Type"] == "image/png" and picture.content[:4] == b"\x89PNG"


def test_data_operation_view_shows_script_and_parameters(ui, browser):
    made = ui.server.create("data_operation_module", title="FFT", reference="ui-op",
                            script_id="DataArray_computeFFT",
                            parameter_dict={"real": True, "window": "<hann>"})
    page = browser.get(made["url"] + "/view").text
    assert 'class="script-id mono">DataArray_computeFFT<' in page
    assert '<td class="mono">"&lt;hann&gt;"</td>' in page
    assert ">real<" in page and ">true<" in page


def test_every_page_answers_anonymous_with_login_or_401(ui):
    made = ui.server.create("data_stream_module", title="private-doc")
    for path in ("", "/view", "/data_stream_module", made["url"].replace(ui.url, "") + "/view",
                 made["url"].replace(ui.url, "") + "/DataStream_viewWaveform"):
        response = requests.get(ui.url + path, allow_redirects=False)
        assert response.status_code == 401, path
        assert "private-doc" not in response.text


def test_missing_pages_get_the_site_error_page_escaped(ui, browser):
    response = browser.get(f"{ui.url}/data_stream_module/<script>alert(1)</script>")
    assert response.status_code == 404
    assert "Page not found" in response.text and "wendelin.css" in response.text
    assert "<script>alert(1)" not in response.text
    assert re.search(r"<code>[^<]*data_stream_module/%3Cscript%3Ealert", response.text)
    # anonymous visitors cannot tell a missing page from a forbidden one: both ask to log in
    html = {"Accept": "text/html"}
    missing = requests.get(f"{ui.url}/no_such_page", headers=html, allow_redirects=False)
    existing = requests.get(f"{ui.url}/data_stream_module", headers=html, allow_redirects=False)
    assert missing.status_code == existing.status_code == 302
    assert "/login_form?came_from=" in missing.headers["Location"]
    for script in (requests.get(f"{ui.url}/data_stream_module/999999"),
                   requests.get(f"{ui.url}/data_stream_module")):
        assert script.status_code == 401 and "basic realm" in script.headers["WWW-Authenticate"]
        assert "Traceback" not in script.text

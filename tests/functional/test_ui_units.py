"""The web UI's pure logic, without a server: formats, listing parameters, decimation, HTML."""

import datetime as dt

import numpy as np
from Products.Wendelin.analysis.decimate import minmax_columns
from Products.Wendelin.humanize import human_date, human_duration, human_size
from Products.Wendelin.site.users import safe_came_from
from Products.Wendelin.ui.audio import sniff_content_type
from Products.Wendelin.ui.listing import ListingParams, text_query
from Products.Wendelin.ui.notebook import bundle_html, jupyter_url, output_html, sanitize_html
from Products.Wendelin.ui.upload import file_name


def test_human_sizes_durations_and_dates():
    assert human_size(0) == "0 bytes" and human_size(1) == "1 byte"
    assert human_size(1536) == "1.5 KiB" and human_size(5 * 1024**3) == "5.0 GiB"
    assert human_size(None) == "" and human_size("x") == ""
    assert human_duration(3.0) == "3.0 s" and human_duration(75.4) == "1:15"
    assert human_duration(3725) == "1:02:05" and human_duration(None) == ""
    now = dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.UTC)
    assert human_date(now - dt.timedelta(seconds=5), now) == "just now"
    assert human_date(now - dt.timedelta(minutes=5), now) == "5 min ago"
    assert human_date(now - dt.timedelta(days=3), now) == "2024-04-28 12:00"


def test_listing_params_are_validated_and_round_trip():
    params = ListingParams.from_form({"q": " tone ", "sort": "size", "order": "ascending",
                                      "start": "40", "size": "20"})
    assert (params.search, params.sort, params.order, params.start, params.size) == (
        "tone", "size", "ascending", 40, 20)
    assert ListingParams.from_form({"sort": "evil", "start": "-3", "size": "7"}) == ListingParams()
    assert params.query_string(start=0) == "q=tone&sort=size&order=ascending&size=20"
    assert text_query('AND OR ( "rec') == "AND* OR* rec*"
    assert text_query("a b") == "a b"


def test_minmax_columns_match_numpy_per_column():
    rng = np.random.default_rng(1)
    data = rng.normal(size=(10_007, 2))
    blocks = [data[i:i + 999] for i in range(0, len(data), 999)]
    lows, highs = minmax_columns(blocks, len(data), 100, 2)
    columns = (np.arange(len(data)) * 100) // len(data)
    for column in (0, 37, 99):
        assert np.allclose(lows[column], data[columns == column].min(axis=0))
        assert np.allclose(highs[column], data[columns == column].max(axis=0))
    few_lows, _ = minmax_columns([data[:3]], 3, 10, 2)
    assert np.isnan(few_lows).any() and not np.isnan(few_lows[0]).any()


def test_sanitizer_keeps_markup_and_drops_scripts():
    html = sanitize_html('<p onclick="x()">hi <a href="javascript:alert(1)">l</a></p>'
                         '<script>steal()</script><style>*{}</style><iframe src=x></iframe>')
    assert html == "<p>hi <a>l</a></p>"
    assert "<img" in bundle_html({"image/png": "iVBORw0KGgo=", "text/plain": "x"})
    assert "not valid base64" in bundle_html({"image/png": '"><script>'})
    svg = bundle_html({"image/svg+xml": "<svg onload='x()'></svg>"})
    assert svg.startswith('<img class="out-image"') and "onload" not in svg
    error = output_html({"output_type": "error", "traceback": ["\x1b[31m<b>Boom</b>\x1b[0m"]})
    assert error == '<pre class="out-error">&lt;b&gt;Boom&lt;/b&gt;</pre>'


def test_jupyter_url_from_settings_or_request_host(tmp_path):
    # an empty var: the checkout's own instance may have announced its Jupyter (make run)
    assert jupyter_url("my nb", "http://data.example:8080", {}, var=tmp_path) == (
        "http://data.example:8888/notebooks/my%20nb.ipynb")
    assert jupyter_url("n", "http://h:1", {"WENDELIN_JUPYTER_PORT": "9999"}, var=tmp_path) == (
        "http://h:9999/notebooks/n.ipynb")
    assert jupyter_url("n", "http://h:1", {"WENDELIN_JUPYTER_URL": "https://j.example/lab/"},
                       var=tmp_path) == "https://j.example/lab/notebooks/n.ipynb"


def test_jupyter_url_announced_by_wendelin_run_in_var(tmp_path):
    assert jupyter_url("n", "http://h:1", {}, var=tmp_path) == "http://h:8888/notebooks/n.ipynb"
    (tmp_path / "jupyter-url").write_text("http://127.0.0.1:41234/\n")
    assert jupyter_url("n", "http://h:1", {}, var=tmp_path) == (
        "http://127.0.0.1:41234/notebooks/n.ipynb")
    (tmp_path / "jupyter-url").write_text("javascript:alert(1)")  # never a link of that kind
    assert jupyter_url("n", "http://h:1", {}, var=tmp_path) == "http://h:8888/notebooks/n.ipynb"


def test_redirects_stay_in_the_portal_and_names_are_cleaned():
    portal = "http://h:8080/erp5"
    assert safe_came_from("http://h:8080/erp5/data_stream_module?x=1", portal).endswith("?x=1")
    assert safe_came_from("/erp5/image_module", portal) == "http://h:8080/erp5/image_module"
    for bad in ("http://evil/erp5", "//evil/erp5", "https://h:8080/erp5", "/other", ""):
        assert safe_came_from(bad, portal) == portal
    assert file_name("C:\\Users\\me\\rec.wav") == "rec.wav" and file_name("a/b\x00.wav") == "b.wav"
    assert sniff_content_type(b"RIFF\x00\x00\x00\x00WAVEfmt ") == "audio/wav"
    assert sniff_content_type(b"fLaC") == "audio/flac" and sniff_content_type(b"xx") is None
    assert sniff_content_type(b"xx", "song.OGG") == "audio/ogg"

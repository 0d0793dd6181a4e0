"""Data Arrays over HTTP as Wendelin's JavaScript reads them (real server): slices by
``slice_index`` records and ``list_index`` fields with dtype and shape headers, byte
``Range`` and ``HEAD``, the ``.npy`` download, and the page for browsers."""

import ast
import io
import json

import numpy as np
import pytest
import requests

RECORDS = [("start", "<f8"), ("value", "<i4"), ("flag", "u1")]
SCRIPT = {"Accept": "*/*"}
BROWSER = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}


def _slice(start=None, stop=None, step=None) -> list[tuple[str, str]]:
    """One ``slice_index`` record (an axis), as the gadget writes it in the query."""
    return [(f"slice_index.{name}:records:int", str(value))
            for name, value in (("start", start), ("stop", stop), ("step", step))
            if value is not None]


@pytest.fixture(scope="module")
def arrays(ui):
    """A plain 2-D array with two lines, a structured array and an empty Data Array."""
    reply = ui.run(
        "import numpy as np\n"
        "m = context.data_array_module\n"
        "a = m.newContent(reference='http-api-grid', title='Grid')\n"
        "a.initArray((5000, 4), 'float64')[:] = np.arange(20000.).reshape(5000, 4)\n"
        "a.newContent(portal_type='Data Array Line', id='column', reference='grid-column',"
        " title='Third column', index_expression='[:, 2]')\n"
        "a.newContent(portal_type='Data Array Line', id='tail', index_expression='-10:, 1:3')\n"
        "s = m.newContent(reference='http-api-records')\n"
        f"r = s.initArray((1000,), {RECORDS!r})\n"
        "r['start'] = np.arange(1000) * 0.5\n"
        "r['value'] = -np.arange(1000)\n"
        "r['flag'] = np.arange(1000) % 2\n"
        "e = m.newContent(reference='http-api-empty')\n"
        "[a.getId(), s.getId(), e.getId()]\n"
    )
    ids = ast.literal_eval(reply["displayhook_result"]["data"]["text/plain"])
    module = f"{ui.url}/data_array_module"
    urls = {name: f"{module}/{id_}" for name, id_ in zip(("grid", "records", "empty"), ids,
                                                          strict=True)}
    grid = np.arange(20000.).reshape(5000, 4)
    records = np.zeros(1000, RECORDS)
    records["start"], records["value"], records["flag"] = (
        np.arange(1000) * 0.5, -np.arange(1000), np.arange(1000) % 2)
    return urls, grid, records


def test_slices_answer_raw_bytes_with_dtype_and_shape(ui, arrays):
    urls, grid, _ = arrays
    admin = ui.server.session()
    rows = admin.get(urls["grid"], params=_slice(10, 20), headers=SCRIPT)
    assert rows.status_code == 200, rows.text
    assert rows.content == grid[10:20].tobytes()
    assert rows.headers["X-Array-Dtype"] == "<f8" and rows.headers["X-Array-Shape"] == "10,4"
    assert rows.headers["X-Content-Type-Options"] == "nosniff"  # served inert
    assert rows.headers["Content-Security-Policy"] == "sandbox"
    # one record per axis, steps and list-like negative starts (the gadget's last row)
    block = admin.get(urls["grid"], params=_slice(100, 4000, 7) + _slice(1, 3))
    assert block.content == np.ascontiguousarray(grid[100:4000:7, 1:3]).tobytes()
    assert block.headers["X-Array-Shape"] == f"{len(range(100, 4000, 7))},2"
    last = admin.get(urls["grid"], params=_slice(-1))
    assert np.frombuffer(last.content, "<f8").tolist() == grid[-1].tolist()
    backwards = admin.get(urls["grid"], params=_slice(None, None, -1000))
    assert backwards.content == np.ascontiguousarray(grid[::-1000]).tobytes()
    head = admin.head(urls["grid"], params=_slice(10, 20))
    assert head.status_code == 200 and head.content == b""
    assert int(head.headers["Content-Length"]) == 10 * 4 * 8
    part = admin.get(urls["grid"], params=_slice(0, 1000), headers={"Range": "bytes=8-23"})
    assert part.status_code == 206 and part.content == grid[:1000].tobytes()[8:24]
    assert part.headers["Content-Range"] == f"bytes 8-23/{1000 * 32}"
    whole = admin.get(urls["grid"], params={"format": "raw"})
    assert whole.content == grid.tobytes() and whole.headers["X-Array-Shape"] == "5000,4"


def test_list_index_selects_packed_fields_of_structured_arrays(ui, arrays):
    urls, _, records = arrays
    admin = ui.server.session()
    fields = admin.get(urls["records"], params=_slice(5, 15) + [
        ("list_index:list", "start"), ("list_index:list", "flag")])
    assert fields.status_code == 200, fields.text
    expected = np.zeros(10, [("start", "<f8"), ("flag", "u1")])
    expected["start"], expected["flag"] = records["start"][5:15], records["flag"][5:15]
    assert fields.content == expected.tobytes()  # 9 bytes a record: no gap for 'value'
    assert json.loads(fields.headers["X-Array-Dtype"]) == [["start", "<f8"], ["flag", "|u1"]]
    one = admin.get(urls["records"], params=_slice(0, 3) + [("list_index", "value")])
    assert np.frombuffer(one.content, "<i4").tolist() == [0, -1, -2]


@pytest.mark.parametrize("params, named", [
    (_slice(0, 10, 0), "step"),
    ([("slice_index.start:records", "abc")], "abc"),
    (_slice(0, 1) + _slice(0, 1) + _slice(0, 1), "records"),
    ([("slice_index", "0:10")], "slice_index"),
    ([("slice_index.begin:records:int", "1")], "begin"),
    ([("list_index:list", "start")], "no fields"),
    ([("format", "csv")], "format"),
    ([("slice_index.start:records", "9" * 40)], "slice_index.start"),
])
def test_bad_slices_are_400_naming_the_parameter(ui, arrays, params, named):
    urls, _, _ = arrays
    answer = ui.server.session().get(urls["grid"], params=params, headers=SCRIPT)
    assert answer.status_code == 400, (params, answer.status_code, answer.text[:300])
    assert named in answer.text


def test_unknown_field_and_non_integer_records_are_400(ui, arrays):
    urls, _, _ = arrays
    admin = ui.server.session()
    missing = admin.get(urls["records"], params=[("list_index:list", "nope")])
    assert missing.status_code == 400 and "nope" in missing.text
    converted = admin.get(urls["grid"], params=[("slice_index.start:records:int", "x1")])
    assert converted.status_code == 400


def test_npy_stays_the_default_download_with_range_and_head(ui, arrays):
    urls, grid, _ = arrays
    admin = ui.server.session()
    npy = admin.get(urls["grid"], headers=SCRIPT)
    assert npy.status_code == 200 and npy.content[:6] == b"\x93NUMPY"
    np.testing.assert_array_equal(np.load(io.BytesIO(npy.content)), grid)
    assert npy.headers["Content-Disposition"].endswith('.npy"')
    assert npy.headers["Accept-Ranges"] == "bytes" and "Accept" in npy.headers["Vary"]
    head = admin.head(urls["grid"])
    assert head.status_code == 200 and int(head.headers["Content-Length"]) == len(npy.content)
    for first, last in ((0, 9), (100, 300), (len(npy.content) - 16, len(npy.content) - 1)):
        part = admin.get(urls["grid"], headers={"Range": f"bytes={first}-{last}"})
        assert part.status_code == 206 and part.content == npy.content[first:last + 1]
    outside = admin.get(urls["grid"], headers={"Range": f"bytes={len(npy.content)}-"})
    assert outside.status_code == 416
    assert outside.headers["Content-Range"] == f"bytes */{len(npy.content)}"


def test_browsers_get_the_page_scripts_the_raw_url(ui, arrays):
    urls, grid, _ = arrays
    browser = ui.login()
    page = browser.get(urls["grid"], headers=BROWSER)
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    assert 'class="shape mono">5000 × 4<' in page.text and "Download .npy" in page.text
    assert f'href="{urls["grid"]}?format=npy"' in page.text
    assert "Third column" in page.text and f'{urls["grid"]}/column/view' in page.text
    download = browser.get(urls["grid"] + "?format=npy", headers=BROWSER)
    assert download.content[:6] == b"\x93NUMPY"
    np.testing.assert_array_equal(np.load(io.BytesIO(download.content)), grid)
    # a browser asking for a slice gets the bytes, not the page
    sliced = browser.get(urls["grid"], params=_slice(0, 2), headers=BROWSER)
    assert sliced.content == grid[:2].tobytes()
    empty_page = browser.get(urls["empty"], headers=BROWSER)
    assert empty_page.status_code == 200 and "holds no array yet" in empty_page.text
    assert ui.server.session().get(urls["empty"], headers=SCRIPT).status_code == 404
    assert requests.get(urls["grid"], headers=BROWSER, allow_redirects=False).status_code == 302


def test_data_array_lines_over_http(ui, arrays):
    urls, grid, _ = arrays
    admin = ui.server.session()
    column = admin.get(urls["grid"] + "/column", headers=SCRIPT)
    assert column.status_code == 200
    np.testing.assert_array_equal(np.load(io.BytesIO(column.content)), grid[:, 2])
    tail = admin.get(urls["grid"] + "/tail", params={"format": "raw"})
    assert tail.content == np.ascontiguousarray(grid[-10:, 1:3]).tobytes()
    assert tail.headers["X-Array-Shape"] == "10,2"
    sliced = admin.get(urls["grid"] + "/column", params=_slice(4990))
    assert np.frombuffer(sliced.content, "<f8").tolist() == grid[4990:, 2].tolist()
    head = admin.head(urls["grid"] + "/column")
    assert int(head.headers["Content-Length"]) == len(column.content)
    page = ui.login().get(urls["grid"] + "/column", headers=BROWSER).text
    assert "Sub-array" in page and f'href="{urls["grid"]}/view"' in page
    assert 'class="index mono">[:, 2]<' in page and 'class="shape mono">5000<' in page
    plot = admin.get(urls["grid"] + "/column/DataArray_viewPlot")
    assert plot.status_code == 200 and plot.content[:4] == b"\x89PNG"
    made = admin.post(urls["grid"] + "/newContentFromJSON",
                      data=json.dumps({"portal_type": "Data Array Line",
                                       "index_expression": "__import__('os')"}),
                      headers={"Content-Type": "application/json"})
    assert made.status_code == 400 and "index_expression" in made.text

"""Property-based fuzzing of the published endpoints' parameters and bodies (bounded runs).

Whatever arrives, the server answers below 500, and a refused (4xx) request that could
write leaves every document as it was. The issue's known bad inputs (invalid UTF-8 in
queries, Zope's form converters, a Range of 5000 digits, deeply nested JSON...) are tried
first, then hypothesis generates more.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from security_conftest import TALLY, describe_change, make_fresh

#: Bounded and reproducible; no shrinking (each step is a live request): the first failing
#: example is reported as found.
FUZZ = settings(max_examples=12, deadline=None, derandomize=True, database=None,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])
DEEP = "[" * 100000
NOTEBOOK_PATH = "data_notebook_module/DataNotebookModule_saveNotebook"


def _check(site, method: str, url: str, writes: bool, **kw: Any) -> int:
    """Send; no 5xx; for a refused request that could write, nothing changed."""
    session = kw.pop("session", None) or site.basic("developer")
    before = site.snapshot() if writes else None
    answer = site.request(session, method, url, **kw)
    status = answer.status_code
    assert status < 500, f"{method} {url} answered {status}: {answer.text[:300]!r}"
    if writes and 400 <= status < 500:
        after = site.snapshot()
        if after != before:
            change = describe_change(before, after)
            TALLY.note("partial_writes", f"{method} {url} -> {status}: {change}")
            raise AssertionError(f"{method} {url} answered {status} but changed: {change}")
    return status


def _known_inputs(targets: dict[str, Any]) -> list[tuple[str, str, str, bool, dict]]:
    """(id, method, path, writes, request keywords): the issue's item 10 and friends."""
    stream, array, csv, operation = (targets["stream"], targets["array"], targets["csv"],
                                     targets["operation"])
    json_type = {"Content-Type": "application/json"}
    digits = "9" * 5000
    return [
        ("q-invalid-utf8", "GET", "data_stream_module/view?q=%FF%FE", False, {}),
        ("reference-surrogate", "GET", "data_stream_module/view?reference=%ED%A0%80", False, {}),
        ("start-int-converter", "GET", "data_stream_module/view?start:int=abc", False, {}),
        ("q-required-converter", "GET", "data_stream_module/view?q:required=", False, {}),
        ("size-float-converter", "GET", "data_stream_module/view?size:float=nan", False, {}),
        ("sort-list", "GET", "data_stream_module/view?sort:list=a&sort:list=b", False, {}),
        ("record-converter", "GET", "data_stream_module/view?q:record=1", False, {}),
        ("date-converter", "GET", "data_stream_module/view?start:date=never", False, {}),
        ("search-in-notebooks-utf8", "GET",
         "data_notebook_module/DataNotebookModule_getNotebook?reference=%FF", False, {}),
        ("range-5000-digits-start", "GET", stream, False,
         {"headers": {"Range": f"bytes={digits}-"}}),
        ("range-5000-digits-end", "GET", stream, False,
         {"headers": {"Range": f"bytes=0-{digits}"}}),
        ("range-5000-digits-suffix", "GET", stream, False,
         {"headers": {"Range": f"bytes=-{digits}"}}),
        ("array-range-5000-digits", "GET", array, False,
         {"headers": {"Range": f"bytes={digits}-"}}),
        ("content-range-5000-digits", "PUT", stream, True,
         {"headers": {"Content-Range": f"bytes {digits}-{digits}/*",
                      "Content-Type": "application/octet-stream"}, "data": b"x"}),
        ("deep-json-new-content", "POST", "data_stream_module/newContentFromJSON", True,
         {"data": DEEP, "headers": json_type}),
        ("deep-json-save-notebook", "POST", NOTEBOOK_PATH, True,
         {"data": DEEP, "headers": json_type}),
        ("metadata-erp5-string", "POST", NOTEBOOK_PATH, True,
         {"data": json.dumps({"reference": "fuzz-meta", "ipynb": {
             "nbformat": 4, "nbformat_minor": 5, "metadata": {"erp5": "x"}, "cells": []}}),
          "headers": json_type}),
        ("lone-surrogate-cell", "POST", NOTEBOOK_PATH, True,
         {"data": '{"reference": "fuzz-sur", "ipynb": {"nbformat": 4, "nbformat_minor": 5, '
                  '"metadata": {}, "cells": [{"cell_type": "code", "id": "a", "metadata": {},'
                  ' "source": "\\ud800", "outputs": [], "execution_count": null}]}}',
          "headers": json_type}),
        ("deep-json-operation", "POST", f"{operation}/DataOperation_run", True,
         {"data": {"input": targets["stream_ref"], "parameters": DEEP},
          "headers": {"Accept": "application/json"}}),
        ("operation-input-zmi", "POST", f"{operation}/DataOperation_run", True,
         {"data": {"input": "acl_users/manage_users", "parameters": "{}"},
          "headers": {"Accept": "application/json"}}),
        ("plot-kind-nope", "GET", f"{array}/DataArray_plot?kind=nope", False, {}),
        ("spectrogram-nperseg-0", "POST", f"{array}/DataArray_computeSpectrogram?nperseg=0",
         True, {}),
        ("batches-rows-abc", "GET", f"{array}/DataArray_iterateBatches?rows=abc", False, {}),
        ("frequency-list", "GET", f"{array}/DataArray_getFrequencyList", False, {}),
        ("csv-start-abc", "POST", f"{csv}/DataStream_appendCsvToArray", True,
         {"data": {"start": "abc"}}),
        ("csv-start-int-converter", "POST", f"{csv}/DataStream_appendCsvToArray", True,
         {"data": {"start:int": "abc"}}),
        ("audio-info-not-audio", "GET", f"{csv}/DataStream_getAudioInfo", False, {}),
        ("waveform-not-audio", "GET", f"{csv}/DataStream_viewWaveform", False, {}),
        ("ingest-map-list-key", "POST",
         "portal_ingestion_policies/default/ingest?reference=fuzz-map", True,
         {"data": bytes.fromhex("81910101"), "headers": {"Content-Type":
                                                         "application/octet-stream"}}),
        ("ingest-reference-list", "POST",
         "portal_ingestion_policies/default/ingest?reference:list=a&reference:list=b", True,
         {"data": bytes.fromhex("92ce6553f100c40178"),
          "headers": {"Content-Type": "application/octet-stream"}}),
        ("edit-title-list", "POST", f"{stream}/Base_edit", True,
         {"data": {"title:list": ["a", "b"], "reference": targets["stream_ref"]}}),
        ("edit-title-invalid-utf8", "POST", f"{stream}/Base_edit?title=%FF%FE", True, {}),
        ("upload-ids-record", "POST", "data_stream_module/DataStreamModule_upload", True,
         {"data": {"file:record": "x"}}),
        ("delete-ids-record", "POST", "data_array_module/Module_deleteSelected", True,
         {"data": {"ids:record.a": "1", "confirm": "1"}}),
        ("execute-code-list", "POST", "Base_executeJupyter", True,
         {"data": {"python_expression:list": ["1", "2"], "reference": "fuzz-list"}}),
    ]


def _known_ids() -> list[str]:
    return [case[0] for case in _known_inputs({k: "" for k in (
        "stream", "array", "csv", "operation", "stream_ref")})]


@pytest.mark.parametrize("case_id", _known_ids())
def test_known_bad_input_is_a_4xx_and_changes_nothing(site, targets, case_id: str) -> None:
    """The inputs that were 500s (issue item 10) answer below 500, refused ones unchanged."""
    case = {c[0]: c for c in _known_inputs(targets)}[case_id]
    _, method, path, writes, kw = case
    url = path if path.startswith("http") else f"{site.url}/{path}"
    _check(site, method, url, writes, **dict(kw))


# -- generated inputs -------------------------------------------------------------------
_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40)
_raw_query = st.lists(
    st.one_of(st.sampled_from(["%FF", "%ED%A0%80", "%00", "%C0%AF", "%", "%%", "+", "&", "=",
                               ":int", ":list", ":record", ":required", ":tokens", ":date",
                               ":method", ":default", ":boolean", ":float", ":lines"]),
              st.text("abcqs0123456789_-.", max_size=6)),
    max_size=10).map("".join)
_json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70),
              st.floats(allow_nan=False), _text),
    lambda children: st.one_of(st.lists(children, max_size=4),
                               st.dictionaries(_text, children, max_size=4)),
    max_leaves=12,
)
_json_objects = st.dictionaries(
    st.one_of(st.sampled_from(["title", "reference", "description", "content_type",
                               "portal_type", "id", "script_id", "parameter_dict", "ipynb",
                               "metadata", "cells", "nbformat"]), _text),
    _json_values, max_size=5)


@FUZZ
@given(name=st.sampled_from(["q", "reference", "sort", "order", "start", "size", "status"]),
       value=_raw_query, converter=_raw_query)
def test_fuzz_listing_query(site, name: str, value: str, converter: str) -> None:
    """Any listing query string (bytes, converters, markers) answers below 500."""
    _check(site, "GET", f"{site.url}/data_stream_module/view?{name}{converter}={value}", False)


@FUZZ
@given(module=st.sampled_from(["data_stream_module", "data_array_module",
                               "data_operation_module", "image_module",
                               "data_notebook_module"]), body=_json_objects)
def test_fuzz_new_content_body(site, module: str, body: dict) -> None:
    """Any JSON object to newContentFromJSON: 201 or 4xx with nothing created."""
    _check(site, "POST", f"{site.url}/{module}/newContentFromJSON", True,
           data=json.dumps(body), headers={"Content-Type": "application/json"})


@FUZZ
@given(ipynb=st.one_of(_json_values, st.fixed_dictionaries(
    {"nbformat": st.sampled_from([4, 3, "4", None]), "nbformat_minor": _json_values,
     "metadata": _json_values, "cells": st.lists(st.dictionaries(st.sampled_from(
         ["cell_type", "source", "outputs", "metadata", "id", "execution_count"]),
         _json_values, max_size=6), max_size=3)})),
    reference=_text)
def test_fuzz_save_notebook_body(site, ipynb: Any, reference: str) -> None:
    """Any notebook body: saved, or 4xx with nothing saved."""
    _check(site, "POST", f"{site.url}/{NOTEBOOK_PATH}", True,
           data=json.dumps({"reference": reference or "fuzz-nb", "ipynb": ipynb}),
           headers={"Content-Type": "application/json"})


@FUZZ
@given(body=st.one_of(st.binary(max_size=64),
                      st.lists(st.tuples(st.integers(0, 2**40), st.one_of(
                          st.binary(max_size=8), _text, st.integers(-2**63, 2**63 - 1))),
                          max_size=3).map(
                          lambda entries: b"".join(__import__("msgpack").packb(
                              list(e), use_bin_type=True) for e in entries)).flatmap(
                          lambda whole: st.integers(0, len(whole)).map(lambda cut: whole[:cut]))),
       tag=st.sampled_from(["fuzz-ingest", "fuzz ingest", "fuzz/../x", ""]))
def test_fuzz_ingest_body(site, body: bytes, tag: str) -> None:
    """Any body, whole or cut anywhere: 204, or 4xx with nothing appended."""
    _check(site, "POST", f"{site.url}/portal_ingestion_policies/default/ingest?reference={tag}",
           True, data=body, headers={"Content-Type": "application/octet-stream"})


@FUZZ
@given(parameters=st.one_of(_text, st.dictionaries(_text, _json_values, max_size=4).map(
    json.dumps)), input_name=st.sampled_from(["sec-target.wav", "sec-target.csv",
                                              "data_stream_module/1", "acl_users", "",
                                              "../../", "portal_catalog"]))
def test_fuzz_operation_run(site, targets, parameters: str, input_name: str) -> None:
    """Any parameters and input for a Data Operation run: below 500, refused runs unchanged."""
    _check(site, "POST", f"{targets['operation']}/DataOperation_run", True,
           data={"input": input_name, "parameters": parameters},
           headers={"Accept": "application/json"})


@FUZZ
@given(header=st.one_of(
    st.from_regex(r"\Abytes=[0-9]{0,30}-[0-9]{0,30}(,[0-9]{0,5}-[0-9]{0,5})?\Z"),
    st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40).map(
        lambda t: "bytes=" + t.strip())),
    target=st.sampled_from(["stream", "array", "image"]))
def test_fuzz_range_header(site, targets, header: str, target: str) -> None:
    """Any Range header on stored bytes answers 200, 206 or 416 (404: an Image without bytes)."""
    answer = site.request(site.basic("auditor"), "GET", targets[target],
                          headers={"Range": header})
    allowed = (200, 206, 416) + ((404,) if target == "image" else ())
    assert answer.status_code in allowed, (header, answer.status_code)


@FUZZ
@given(script=st.sampled_from([
    ("array", "DataArray_plot", "kind"), ("array", "DataArray_computeSpectrogram", "nperseg"),
    ("array", "DataArray_computeSpectrogram", "noverlap"),
    ("array", "DataArray_computeSpectrogram", "window"),
    ("array", "DataArray_iterateBatches", "rows"),
    ("array", "DataArray_getFrequencyList", "sample_rate"),
    ("array", "DataArray_clusterFrames", "n_clusters"), ("array", "DataArray_computeFFT", "real"),
    ("stream", "DataStream_extractChannel", "channel"),
    ("stream", "DataStream_extractChannel", "dtype"),
    ("csv", "DataStream_appendCsvToArray", "start"),
    ("csv", "DataStream_appendCsvToArray", "end"),
]), value=st.one_of(_text, st.integers(-2**66, 2**66).map(str),
                    st.sampled_from(["nan", "inf", "-1", "0", "1e308", "V99999999", "O",
                                     "object", "<U999999999"])), method=st.sampled_from(
    ["GET", "POST"]))
def test_fuzz_skin_script_arguments(site, targets, script: tuple, value: str,
                                    method: str) -> None:
    """Skin scripts called by URL with any argument: below 500, refused calls unchanged."""
    target, name, argument = script
    url = f"{targets[target]}/{name}"
    if method == "GET":
        _check(site, "GET", url, True, params={argument: value})
    else:
        _check(site, "POST", url, True, data={argument: value})


@FUZZ
@given(fields=st.dictionaries(st.sampled_from(["title", "reference", "description",
                                               "title:list", "reference:int", "description:lines",
                                               "_csrf", "title:record"]), _text, max_size=4))
def test_fuzz_edit_form(site, edited, fields: dict[str, str]) -> None:
    """Any edit form (Basic, as a script): 303 or 4xx with nothing changed."""
    _check(site, "POST", f"{edited['fresh_url']}/Base_edit", True,
           data={"reference": edited["fresh_ref"], "title": "fuzzed", **fields})


@pytest.fixture(scope="module")
def edited(site) -> dict[str, str]:
    """A stream of the edit fuzzing's own (the shared targets keep their references)."""
    return make_fresh(site, "stream")

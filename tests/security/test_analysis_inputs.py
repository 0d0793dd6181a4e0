"""Analysis skin scripts and Data Operation runs called by URL with bad arguments, over
HTTP against the real server (issue 12, items 8 and 10): each answers a 4xx naming the
bad argument, never a 500, and nothing is created or recorded.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from security_conftest import TALLY, describe_change, refused

DEEP = "[" * 100000 + "]" * 100000  # over the size bound of a run's parameters
NESTED = "[" * 5000 + "]" * 5000  # within it, nested too deep


@pytest.fixture(scope="module")
def analysis(site, targets) -> dict[str, Any]:
    """A non-audio stream, a long 1-D signal and the spectrogram operation's URL."""
    junk = site.create("data_stream_module", title="junk", reference="sec-junk.bin")
    site.put(junk["url"], b"RIFF\x10\x00\x00\x00WAVEfmt \x02\x00\x00\x00xx" + b"\xff" * 300)
    made = site.run(
        "_a = context.data_array_module.newContent(reference='sec-long-signal')\n"
        "_a.initArray((1 << 20,), 'int8')\n"
        "import transaction; transaction.commit()\n"
        "_o = context.portal_catalog.getResultValue(portal_type='Data Operation', "
        "reference='spectrogram')\n"
        "print(_a.absolute_url() + ' ' + _o.absolute_url())"
    ).split()
    return {"junk": junk["url"], "long": made[0], "spectrogram_operation": made[1]}


def attempt(site, method: str, url: str, expected: int, words: tuple[str, ...], **kw: Any):
    """Send as the Manager (Basic auth); demand ``expected`` naming ``words``, no change."""
    before = site.snapshot()
    answer = site.request(site.basic("manager"), method, url, **kw)
    after = site.snapshot()
    if before != after:
        TALLY.note("partial_writes", f"{method} {url}: {describe_change(before, after)}")
    assert refused(answer.status_code), (url, answer.status_code, answer.text[:300])
    assert answer.status_code == expected, (url, answer.status_code, answer.text[:300])
    shown = answer.text[answer.text.find("<main"):][:800]  # the site's error page, or text
    for word in words:
        assert word in answer.text, (url, word, shown)
    assert before == after, describe_change(before, after)


@pytest.mark.parametrize(
    ("script", "method", "params", "words"),
    [("DataArray_plot", "GET", {"kind": "nope"}, ("kind", "nope")),
     ("DataArray_plot", "GET", {"kind": "spectrogram"}, ("2-D",)),
     ("DataArray_computeSpectrogram", "POST", {"nperseg": "0"}, ("nperseg",)),
     ("DataArray_computeSpectrogram", "POST", {"nperseg": "abc"}, ("nperseg",)),
     ("DataArray_computeSpectrogram", "POST", {"window": "evil"}, ("window",)),
     ("DataArray_iterateBatches", "GET", {"rows": "abc"}, ("rows",)),
     ("DataArray_iterateBatches", "GET", {"rows": "0"}, ("rows",)),
     ("DataArray_getFrequencyList", "GET", {"sample_rate": "abc"}, ("sample_rate",)),
     ("DataArray_getFrequencyList", "GET", {}, ("sample rate",)),
     ("DataArray_clusterFrames", "POST", {"n_clusters": "x"}, ("n_clusters",)),
     ("DataArray_plotToImage", "POST", {"kind": "pie"}, ("kind",)),
     ("DataArray_computeFFT", "POST", {"real": "maybe"}, ("real",))],
)
def test_array_scripts_refuse_bad_arguments(
    site, targets, analysis, script, method, params, words
):
    # the target array is 2-D (16 x 2): 1-D scripts get the long 1-D signal
    one_d = ("DataArray_plot", "DataArray_computeSpectrogram", "DataArray_computeFFT",
             "DataArray_getFrequencyList", "DataArray_iterateBatches")
    base = analysis["long"] if script in one_d else targets["array"]
    key = "params" if method == "GET" else "data"
    attempt(site, method, f"{base}/{script}", 400, words, **{key: params})


@pytest.mark.parametrize(
    ("params", "words"),
    [({"dtype": "V99999999"}, ("dtype", "V99999999")), ({"dtype": "U9999999"}, ("dtype",)),
     ({"channel": "abc"}, ("channel",)), ({"channel": "7"}, ("channel",))],
)
def test_extract_channel_refuses_bad_arguments(site, targets, analysis, params, words):
    attempt(site, "POST", f"{targets['stream']}/DataStream_extractChannel", 400, words,
            data=params)


@pytest.mark.parametrize("script", ["DataStream_getAudioInfo", "DataStream_extractChannel"])
def test_damaged_audio_is_a_400(site, analysis, script):
    method = "GET" if script.endswith("Info") else "POST"
    attempt(site, method, f"{analysis['junk']}/{script}", 400, ("WAV",))


def test_waveform_of_damaged_or_non_audio_streams_is_a_4xx(site, targets, analysis):
    for url in (analysis["junk"], targets["csv"]):
        answer = site.request(site.basic("manager"), "GET", f"{url}/DataStream_viewWaveform")
        assert refused(answer.status_code), (url, answer.status_code, answer.text[:300])
        page = site.request(site.basic("manager"), "GET", f"{url}/view")
        assert page.status_code == 200, (url, page.status_code)


def test_a_spectrogram_larger_than_the_free_disk_is_413(site, analysis):
    attempt(site, "POST", f"{analysis['long']}/DataArray_computeSpectrogram", 413,
            ("spectrogram", "free"), data={"nperseg": "65536", "noverlap": "65535"})


@pytest.mark.parametrize(
    ("form", "words"),
    [({"input": "acl_users/manage_users"}, ("documents",)),
     ({"input": "acl_users"}, ("no document", "acl_users")),
     ({"input": "portal_catalog/manage_catalogClear"}, ("documents",)),
     ({"input": "data_array_module"}, ("no document",)),
     ({"input": "data_array_module/1"}, ("Data Stream",)),
     ({"input": "no-such/thing"}, ("no document",)),
     ({"input": "sec-target.wav", "parameters": NESTED}, ("deeper",)),
     ({"input": "sec-target.wav", "parameters": json.dumps({"nperseg": 3})}, ("nperseg",)),
     ({"input": "sec-target.wav", "parameters": json.dumps({"dtype": "V99999999"})},
      ("dtype",)),
     ({"input": "sec-target.wav", "parameters": json.dumps({"channel": [[[[1]]]]})},
      ("channel",)),
     ({"input": "sec-target.wav", "parameters": json.dumps({"__class__": 1})},
      ("__class__",)),
     ({"input": "sec-target.wav", "parameters": "[1, 2]"}, ("JSON object",))],
)
def test_operation_run_refuses_bad_input_and_parameters(site, targets, form, words):
    attempt(site, "POST", f"{targets['operation']}/DataOperation_run", 400, words, data=form)


def test_operation_run_parameters_over_their_size_bound_are_413(site, targets):
    attempt(site, "POST", f"{targets['operation']}/DataOperation_run", 413, ("parameters",),
            data={"input": "sec-target.wav", "parameters": DEEP})


def test_operation_run_over_the_disk_quota_is_413(site, analysis):
    attempt(site, "POST", f"{analysis['spectrogram_operation']}/DataOperation_run", 413,
            ("free",), data={"input": "sec-long-signal",
                             "parameters": json.dumps({"nperseg": 65536, "noverlap": 65535})})

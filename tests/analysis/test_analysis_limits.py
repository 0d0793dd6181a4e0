"""Analysis parameters are validated and output sizes are checked against the free disk
before anything is created (issue 12, items 8 and 10), on real portal documents.
"""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest
from Products.Wendelin.analysis.documents import storage_directory
from Products.Wendelin.errors import InvalidInputError, QuotaExceededError
from recordings import RATE, tones, wav_bytes


@pytest.fixture
def recording(portal):
    stream = portal.data_stream_module.newContent(reference="limits.wav")
    stream.appendData(wav_bytes(tones(RATE // 4)))
    return stream


@pytest.fixture
def signal(portal):
    document = portal.data_array_module.newContent(reference="limits-signal")
    document.initArray((4096,), np.float64)[:] = np.sin(np.arange(4096) / 9)
    return document


def array_count(portal) -> int:
    return len(portal.data_array_module.objectIds())


@pytest.mark.parametrize(
    "dtype", ["V99999999", "U100000000", "S5", "complex128", "object", "i2,i2", "bogus",
              "float128", "datetime64[s]", ["f8"], {"names": ["a"], "formats": ["V9999"]}]
)
def test_channel_dtype_must_be_a_small_number(portal, recording, dtype):
    before = array_count(portal)
    with pytest.raises(InvalidInputError, match="dtype"):
        recording.DataStream_extractChannel(dtype=dtype)
    assert array_count(portal) == before


@pytest.mark.parametrize("channel", [-1, 2, "abc", 1.5, True, None])
def test_channel_must_exist(portal, recording, channel):
    with pytest.raises(InvalidInputError, match="channel"):
        recording.DataStream_extractChannel(channel=channel)


def test_a_channel_is_stored_in_a_numeric_dtype_of_choice(recording):
    assert recording.DataStream_extractChannel(dtype="float32").getArrayDtype() == np.float32


@pytest.mark.parametrize(
    ("parameters", "name"),
    [({"nperseg": 0}, "nperseg"), ({"nperseg": "abc"}, "nperseg"),
     ({"nperseg": 1 << 20}, "nperseg"), ({"nperseg": 256, "noverlap": 256}, "noverlap"),
     ({"nperseg": 256, "noverlap": "x"}, "noverlap"), ({"window": "evil"}, "window"),
     ({"sample_rate": "nan"}, "sample_rate"), ({"nperseg": 8192}, "nperseg"),
     ({"reference": ["x"]}, "reference")],
)
def test_spectrogram_parameters_are_bounded(portal, signal, parameters, name):
    before = array_count(portal)
    with pytest.raises(InvalidInputError, match=name):
        signal.DataArray_computeSpectrogram(**parameters)
    assert array_count(portal) == before


def test_a_spectrogram_larger_than_the_free_disk_is_refused_before_it_is_created(portal):
    source = portal.data_array_module.newContent(reference="limits-long")
    source.initArray((1 << 20,), np.int8)
    before = array_count(portal)
    with pytest.raises(QuotaExceededError, match="spectrogram"):  # ~280 GB of output
        source.DataArray_computeSpectrogram(nperseg=1 << 16, noverlap=(1 << 16) - 1)
    assert array_count(portal) == before


def test_the_disk_quota_setting_refuses_an_extraction_before_it_writes(
    portal, recording, monkeypatch
):
    usage = shutil.disk_usage(storage_directory(recording))
    assert usage.free < 0.9 * usage.total  # the setting below then leaves no room
    monkeypatch.setenv("WENDELIN_MIN_FREE_DISK", "90%")
    before = array_count(portal)
    with pytest.raises(QuotaExceededError, match="WENDELIN_MIN_FREE_DISK"):
        recording.DataStream_extractChannel()
    with pytest.raises(QuotaExceededError):
        recording.DataStream_extractChannel().DataArray_computeFFT()
    assert array_count(portal) == before


def test_outputs_are_measured_where_the_blobs_are_written(portal):
    directory = storage_directory(portal.data_array_module)
    storage = portal._p_jar.db().storage
    assert os.path.isdir(directory)
    assert directory.startswith(str(storage.blob_dir))


@pytest.mark.parametrize(
    ("script", "arguments", "name"),
    [("DataArray_plot", {"kind": "nope"}, "kind"),
     ("DataArray_plot", {"bins": "abc"}, "bins"),
     ("DataArray_plot", {"figsize": (100000, 100000)}, "figsize"),
     ("DataArray_plot", {"colour": "red"}, "colour"),
     ("DataArray_plot", {"kind": "spectrogram"}, "2-D"),
     ("DataArray_iterateBatches", {"rows": "abc"}, "rows"),
     ("DataArray_iterateBatches", {"rows": 0}, "rows"),
     ("DataArray_getFrequencyList", {"sample_rate": "abc"}, "sample_rate"),
     ("DataArray_getFrequencyList", {"sample_rate": -5}, "sample_rate"),
     ("DataArray_computeFFT", {"real": "maybe"}, "real"),
     ("DataArray_clusterFrames", {"n_clusters": 2}, "dimensions"),
     ("DataArray_fitIncremental", {"estimator": "MiniBatchKMeans", "rows": 10}, "partial_fit"),
     ("DataArray_plotToImage", {"kind": "pie"}, "kind")],
)
def test_skin_script_arguments_are_validated(portal, signal, script, arguments, name):
    before = len(portal.image_module.objectIds()), array_count(portal)
    with pytest.raises(InvalidInputError, match=name):
        getattr(signal, script)(**arguments)
    assert (len(portal.image_module.objectIds()), array_count(portal)) == before


def test_frequencies_of_a_spectrum_without_sample_rate_are_a_clear_error(portal, signal):
    with pytest.raises(InvalidInputError, match="sample rate"):
        signal.DataArray_getFrequencyList()


def test_an_array_without_data_is_a_clear_error(portal):
    empty = portal.data_array_module.newContent(reference="limits-empty")
    with pytest.raises(InvalidInputError, match="no array yet"):
        empty.DataArray_computeFFT()

"""The analysis skin scripts and Data Operations on real portal documents (in-process Zope)."""

from __future__ import annotations

import io

import numpy as np
import pytest
from Products.Wendelin.analysis.audio import AudioFormatError
from Products.Wendelin.document.operation import OperationFailedError
from Products.Wendelin.errors import InvalidInputError
from recordings import RATE, tones, wav_bytes


@pytest.fixture
def recording(portal):
    stream = portal.data_stream_module.newContent(reference="tones.wav", title="Tones")
    stream.appendData(wav_bytes(tones(2 * RATE)))
    return stream


def peak_hz(spectrum_document) -> float:
    frequencies = spectrum_document.DataArray_getFrequencyList()
    magnitude = np.abs(spectrum_document.getArray()[:])
    return float(frequencies[int(np.argmax(magnitude))])


def test_audio_info_from_the_header(recording):
    info = recording.DataStream_getAudioInfo()
    assert info["format"] == "WAV" and info["subtype"] == "PCM_16"
    assert (info["channels"], info["sample_rate"], info["frames"]) == (2, RATE, 2 * RATE)
    assert info["duration"] == 2.0


def test_corrupt_stream_is_a_clear_error(portal):
    stream = portal.data_stream_module.newContent(reference="noise.bin")
    stream.appendData(b"RIFF\x10\x00\x00\x00WAVEfmt \x02\x00\x00\x00xx")
    with pytest.raises(AudioFormatError, match="too short"):
        stream.DataStream_getAudioInfo()


def test_channel_fft_frequencies_spectrogram(portal, recording):
    left = recording.DataStream_extractChannel(channel=0, reference="left")
    right = recording.DataStream_extractChannel(channel=1, reference="right", dtype="float64")
    assert left.getArrayShape() == (2 * RATE,) and left.getArrayDtype() == np.int16
    assert left.getSampleRate() == RATE
    np.testing.assert_allclose(right.getArray()[:] / 32767, tones(2 * RATE)[:, 1], atol=1e-4)
    assert portal.portal_catalog(reference="left")[0].getObject().getId() == left.getId()

    spectrum = left.DataArray_computeFFT(reference="left-fft")
    assert spectrum.getArrayShape() == (RATE + 1,)
    assert abs(peak_hz(spectrum) - 440.0) < 1.0
    assert abs(peak_hz(right.DataArray_computeFFT()) - 1000.0) < 1.0

    spectrogram = left.DataArray_computeSpectrogram(nperseg=256, noverlap=128)
    frames, bins = spectrogram.getArrayShape()
    assert bins == 129 and frames == (2 * RATE - 128) // 128
    row = spectrogram.getArray()[frames // 2]
    assert abs(int(np.argmax(row)) * RATE / 256 - 440) <= RATE / 256


def test_plot_saved_as_image_and_served(portal, recording):
    from PIL import Image as PILImage

    left = recording.DataStream_extractChannel(channel=0)
    figure = left.DataArray_plot(kind="line")
    image = portal.Base_saveImage(figure, "left-plot", title="Left channel")
    assert image.getPortalType() == "Image" and image.getParentNode().getId() == "image_module"
    assert image.getContentType() == "image/png"
    with PILImage.open(io.BytesIO(image.getData())) as picture:
        assert picture.size == (image.getWidth(), image.getHeight())
        assert picture.size[0] > 100
    response = portal.REQUEST.RESPONSE
    body = image.index_html(portal.REQUEST, response)
    assert body.startswith(b"\x89PNG") and response.getHeader("Content-Type") == "image/png"


def test_incremental_fit_through_the_skin(recording):
    from sklearn.cluster import MiniBatchKMeans

    spectrogram = recording.DataStream_extractChannel().DataArray_computeSpectrogram(nperseg=128)
    model = spectrogram.DataArray_fitIncremental(MiniBatchKMeans(n_clusters=2, n_init=3), 50)
    assert model.cluster_centers_.shape == (2, 65)
    batches = list(spectrogram.DataArray_iterateBatches(50))
    assert sum(len(b) for b in batches) == spectrogram.getArrayShape()[0]


def test_shipped_operations_run_and_record(portal, recording):
    operations = {
        brain.reference: brain.getObject()
        for brain in portal.portal_catalog(portal_type="Data Operation")
    }
    assert {"extract-channel", "fft", "spectrogram", "plot-to-image", "kmeans-frames"} <= set(
        operations
    )
    run = operations["extract-channel"].execute(recording, channel=1)
    run.raise_for_status()
    channel = run.result
    assert channel.getPortalType() == "Data Array" and run.outputs == [channel.getRelativeUrl()]
    spectrum = operations["fft"].execute(channel).result
    assert abs(peak_hz(spectrum) - 1000.0) < 1.0
    frames = operations["spectrogram"].execute(channel, nperseg=256).result
    labels = operations["kmeans-frames"].execute(frames, n_clusters=2).result
    assert labels.getArrayShape() == (frames.getArrayShape()[0],)
    image = operations["plot-to-image"].execute(spectrum, kind="spectrum").result
    assert image.getPortalType() == "Image" and image.getWidth() > 0
    history = operations["extract-channel"].getRunList()
    assert history[0]["status"] == "succeeded" and history[0]["input"].endswith(recording.getId())
    assert history[0]["user"] == "zope"


def test_failing_operation_rolls_back_its_work_and_is_recorded(portal):
    operation = portal.data_operation_module.newContent(
        portal_type="Data Operation",
        reference="broken",
        script_id="DataStream_extractChannel",
        input_portal_type="Data Stream",
    )
    stream = portal.data_stream_module.newContent(reference="not-audio")
    stream.appendData(b"definitely not a recording" * 100)
    arrays_before = len(portal.data_array_module.objectIds())
    run = operation.execute(stream)
    assert run.status == "failed" and "AudioFormatError" in run.error
    assert len(portal.data_array_module.objectIds()) == arrays_before
    assert operation.getRunList()[0]["status"] == "failed"
    with pytest.raises(OperationFailedError, match="failed"):
        run.raise_for_status()
    with pytest.raises(InvalidInputError, match="reads .Data Stream. documents"):
        operation.execute(portal.data_array_module.newContent())


def test_tutorial_notebook_is_shipped_as_a_data_notebook(portal):
    notebook = portal.portal_catalog.getResultValue(
        portal_type="Data Notebook", reference="wendelin-tutorial"
    )
    assert notebook is not None and notebook.hasIpynb()
    ipynb = notebook.getIpynb()
    assert ipynb["metadata"]["kernelspec"]["name"] == "erp5"
    sources = [cell["source"] for cell in ipynb["cells"]]
    assert any("DataStream_extractChannel" in source for source in sources)
    assert any("class BigFileReader" in source for source in sources)

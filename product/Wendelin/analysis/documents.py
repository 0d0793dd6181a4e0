"""Analysis on portal documents: what the ``DataStream_*``/``DataArray_*`` skin scripts call.

Each function takes documents, creates its results in the right module and returns
them; the algorithms live in the sibling modules and know nothing of Zope. Results
are catalogued, nothing is committed here: the request or notebook cell does that.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .audio import AudioInfo, read_audio_info
from .channels import copy_channel, native_dtype
from .fft import frequency_list, rfft_into
from .learn import fit_incremental, iterate_batches
from .plot import plot_array
from .spectrogram import check_parameters, frame_count, spectrogram_into

ARRAY_MODULE = "data_array_module"
IMAGE_MODULE = "image_module"


def audio_info(stream: Any) -> AudioInfo:
    """Header of the recording in a Data Stream (raises AudioFormatError when not audio)."""
    with stream.open() as file:
        return read_audio_info(file, stream.getSize())


def describe_audio(stream: Any) -> dict[str, Any]:
    """The audio header as plain values (for skin scripts, views and JSON)."""
    return audio_info(stream).as_dict()


def _new_array(context: Any, reference: str | None, title: str, **properties: Any) -> Any:
    module = getattr(context.getPortalObject(), ARRAY_MODULE)
    return module.newContent(
        portal_type="Data Array", reference=reference or "", title=title, **properties
    )


def _require_array(document: Any, ndim: int | None = None) -> Any:
    array = document.getArray()
    if array is None:
        raise ValueError(f"Data Array {document.getId()!r} has no array yet (initArray first)")
    if ndim is not None and array.ndim != ndim:
        raise ValueError(
            f"Data Array {document.getId()!r} has {array.ndim} dimensions, {ndim} expected"
        )
    return array


def extract_channel(
    stream: Any, channel: int = 0, reference: str | None = None, dtype: Any = None
) -> Any:
    """A new 1-D Data Array with one channel of the recording, filled block by block."""
    info = audio_info(stream)
    target_dtype = np.dtype(dtype) if dtype is not None else native_dtype(info)
    document = _new_array(
        stream,
        reference,
        f"{stream.getTitle() or stream.getId()} channel {channel}",
        sample_rate=float(info.sample_rate),
        signal_length=info.frames,
    )
    array = document.initArray((info.frames,), target_dtype)
    copy_channel(stream, info, channel, array)
    document.reindexObject()
    return document


def compute_fft(source: Any, reference: str | None = None, real: bool = True) -> Any:
    """A new Data Array with the spectrum of a 1-D Data Array (rfft for real input)."""
    signal = _require_array(source, ndim=1)
    if not real or np.iscomplexobj(np.zeros(0, signal.dtype)):
        raise ValueError("only real signals are transformed (real=True): use a real Data Array")
    n = len(signal)
    document = _new_array(
        source,
        reference,
        f"FFT of {source.getTitle() or source.getId()}",
        sample_rate=float(source.getSampleRate()),
        signal_length=n,
    )
    spectrum = document.initArray((n // 2 + 1,), np.complex128)
    rfft_into(signal, spectrum)
    document.reindexObject()
    return document


def frequencies(spectrum: Any, sample_rate: float | None = None) -> np.ndarray:
    """Frequencies (Hz) of a spectrum's bins, from its stored or the given sample rate."""
    rate = sample_rate or spectrum.getSampleRate()
    length = spectrum.getSignalLength()
    if not rate or not length:
        raise ValueError(
            f"Data Array {spectrum.getId()!r} does not say its sample rate and signal length; "
            "pass sample_rate= and use a spectrum made by DataArray_computeFFT"
        )
    return frequency_list(length, rate)


def compute_spectrogram(
    source: Any,
    nperseg: int = 1024,
    noverlap: int | None = None,
    window: str = "hann",
    sample_rate: float | None = None,
    reference: str | None = None,
) -> Any:
    """A new 2-D Data Array (frames x frequencies) with the signal's power spectral density."""
    signal = _require_array(source, ndim=1)
    rate = float(sample_rate or source.getSampleRate() or 1.0)
    noverlap = check_parameters(len(signal), nperseg, noverlap)
    frames = frame_count(len(signal), nperseg, noverlap)
    document = _new_array(
        source,
        reference,
        f"Spectrogram of {source.getTitle() or source.getId()}",
        sample_rate=rate,
        signal_length=len(signal),
    )
    target = document.initArray((frames, nperseg // 2 + 1), np.float64)
    spectrogram_into(signal, target, rate, nperseg, noverlap, window)
    document.reindexObject()
    return document


def plot(document: Any, kind: str = "line", **options: Any) -> Any:
    """A matplotlib Figure of a Data Array (see :func:`.plot.plot_array`)."""
    array = _require_array(document)
    options.setdefault("sample_rate", document.getSampleRate() or None)
    options.setdefault("title", document.getTitle() or document.getId())
    return plot_array(array, kind=kind, **options)


def save_image(context: Any, figure: Any, reference: str, title: str | None = None) -> Any:
    """Render a figure to PNG and store it as an Image in the image module."""
    from ..jupyter.display import figure_png

    if not hasattr(figure, "savefig"):
        if hasattr(figure, "gcf"):  # the pyplot module, as ERP5 notebooks pass it
            figure = figure.gcf()
        else:
            raise TypeError(
                f"Base_saveImage needs a matplotlib figure, got {type(figure).__name__}"
            )
    module = getattr(context.getPortalObject(), IMAGE_MODULE)
    image = module.newContent(portal_type="Image", reference=reference, title=title or reference)
    image.setData(figure_png(figure))
    return image


def batches(document: Any, rows: int) -> Any:
    """In-memory batches of ``rows`` rows of a Data Array."""
    return iterate_batches(_require_array(document), rows)


def fit(document: Any, estimator: Any, rows: int, **fit_params: Any) -> Any:
    """Fit an incremental scikit-learn estimator on a Data Array, batch by batch."""
    return fit_incremental(estimator, _require_array(document), rows, **fit_params)


def cluster_frames(
    document: Any, n_clusters: int = 4, rows: int = 4096, reference: str | None = None
) -> Any:
    """A new 1-D Data Array with a k-means label for each row (frame) of a 2-D Data Array."""
    from .learn import cluster_rows

    frames = _require_array(document, ndim=2)
    result = _new_array(
        document,
        reference,
        f"{n_clusters} clusters of {document.getTitle() or document.getId()}",
        sample_rate=float(document.getSampleRate()),
    )
    labels = result.initArray((len(frames),), np.int32)
    position = 0
    for batch in cluster_rows(frames, n_clusters, rows):
        labels[position : position + len(batch)] = batch
        position += len(batch)
    result.reindexObject()
    return result


def plot_to_image(
    document: Any, kind: str = "line", reference: str | None = None, **options: Any
) -> Any:
    """Plot a Data Array and save the figure as an Image (one step of a Data Operation)."""
    figure = plot(document, kind=kind, **options)
    reference = reference or f"{document.getReference() or document.getId()}-{kind}"
    return save_image(document, figure, reference, title=f"{kind} of {document.getTitle()}")

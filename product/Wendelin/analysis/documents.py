"""Analysis on portal documents: what the ``DataStream_*``/``DataArray_*`` skin scripts call.

Each function takes documents, creates its results in the right module and returns
them; the algorithms live in the sibling modules and know nothing of Zope. Results
are catalogued, nothing is committed here: the request or notebook cell does that.

Parameters arrive as skin scripts got them (URL text, JSON values, Python from a cell):
each is validated here (InvalidInputError names it), every parameter that sizes an
output is bounded, and the expected output size is checked against the free disk
(QuotaExceededError) before anything is created.
"""

from __future__ import annotations

import os
import tempfile
from typing import Any

import numpy as np
from Acquisition import aq_base

from ..bigdata.bigarray import _readonly
from ..bigdata.budget import get_memory_budget
from ..bigdata.errors import OutOfCoreError
from ..errors import InvalidInputError, QuotaExceededError
from ..inputs import as_choice, as_float, as_int, check_free_disk
from .audio import AudioInfo, read_audio_info
from .channels import copy_channel, native_dtype
from .fft import check_real_length, fits_in_memory, frequency_list, rfft_into
from .learn import fit_incremental, iterate_batches
from .plot import KINDS, plot_array
from .spectrogram import check_parameters, frame_count, spectrogram_into

ARRAY_MODULE = "data_array_module"
IMAGE_MODULE = "image_module"
#: Channel samples are stored as numbers of at most this many bytes (float64, int64).
MAX_CHANNEL_ITEMSIZE = 8
#: Longest spectrogram segment (its rows have nperseg // 2 + 1 bins).
MAX_NPERSEG = 1 << 16
#: Most rows per in-memory batch and most k-means clusters.
MAX_ROWS = 1 << 24
MAX_CLUSTERS = 256
#: Most points per plotted line, longest title, largest figure side (inches).
MAX_BINS = 100_000
MAX_TITLE = 300
MAX_FIGURE_INCHES = 40.0
MAX_REFERENCE = 255
MAX_SAMPLE_RATE = 1e12
WINDOWS = ("hann", "hamming", "blackman", "bartlett", "boxcar", "flattop", "triang", "cosine")
#: Disk an Image of a plot may take (PNG of at most MAX_FIGURE_INCHES squared at 100 dpi).
IMAGE_BYTES = 64 * 1024**2
PLOT_OPTIONS = ("sample_rate", "title", "bins", "figsize")
_TRUE = (True, 1, "1", "true", "True", "yes")
_FALSE = (False, 0, "0", "false", "False", "no")


def storage_directory(context: Any) -> str:
    """Where new blob files of ``context``'s database are written (for the disk quota).

    The blob directory's temporary folder of the ZODB storage (FileStorage, or a ZEO
    client's blob cache); the system temporary folder for storages without blobs.
    """
    jar = getattr(aq_base(context), "_p_jar", None)
    if jar is None:
        jar = getattr(aq_base(context.getPortalObject()), "_p_jar", None)
    storage = jar.db().storage if jar is not None else None
    temporary = getattr(storage, "temporaryDirectory", None)
    if callable(temporary):
        path = temporary()
        if path and os.path.isdir(path):
            return path
    blob_dir = getattr(storage, "blob_dir", None)
    if blob_dir and os.path.isdir(blob_dir):
        return blob_dir
    return tempfile.gettempdir()


def reserve_disk(context: Any, output_bytes: int, what: str, scratch_bytes: int = 0) -> None:
    """QuotaExceededError unless the output (and scratch files) leave the free disk share.

    Scratch files of out-of-core work go to the system temporary folder; when it is on
    the same file system as the blobs the two sizes count together.
    """
    blobs = storage_directory(context)
    if scratch_bytes:
        scratch = tempfile.gettempdir()
        if os.stat(scratch).st_dev == os.stat(blobs).st_dev:
            output_bytes += scratch_bytes
        else:
            check_free_disk(scratch, int(scratch_bytes), f"the scratch files of {what}")
    check_free_disk(blobs, int(output_bytes), what)


def _reference(reference: Any) -> str | None:
    if reference is None or reference == "":
        return None
    if not isinstance(reference, str) or len(reference) > MAX_REFERENCE:
        raise InvalidInputError(
            f"reference must be text of at most {MAX_REFERENCE} characters, got "
            f"{str(reference)[:80]!r}"
        )
    return reference


def _optional_rate(sample_rate: Any) -> float | None:
    if sample_rate is None or sample_rate == "":
        return None
    return as_float("sample_rate", sample_rate, minimum=1e-9, maximum=MAX_SAMPLE_RATE)


def _flag(name: str, value: Any) -> bool:
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise InvalidInputError(f"{name} must be true or false, got {str(value)[:40]!r}")


def channel_dtype(dtype: Any) -> np.dtype:
    """The dtype a channel may be stored in: a numeric one of at most 8 bytes per sample."""
    allowed = "int8/16/32/64, uint8/16/32/64, float16/32/64"
    if isinstance(dtype, np.dtype):
        parsed = dtype
    elif isinstance(dtype, str) and len(dtype) <= 16:
        try:
            parsed = np.dtype(dtype)
        except (TypeError, ValueError, SyntaxError):
            raise InvalidInputError(f"dtype {dtype!r} is not a numpy dtype ({allowed})") from None
    else:
        raise InvalidInputError(f"dtype must be a dtype name ({allowed}), got {str(dtype)[:40]!r}")
    if parsed.kind not in "iuf" or parsed.itemsize > MAX_CHANNEL_ITEMSIZE or parsed.fields:
        raise InvalidInputError(f"dtype must be a number type ({allowed}), not {dtype!r}")
    return parsed.newbyteorder("=")


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


def _require_array(document: Any, ndim: int | None = None, numeric: bool = True) -> Any:
    getter = getattr(aq_base(document), "getArray", None)
    if getter is None:
        raise InvalidInputError(f"{document.getId()!r} is not a Data Array")
    array = document.getArray()
    if array is None:
        raise InvalidInputError(
            f"Data Array {document.getId()!r} has no array yet (initArray first)"
        )
    if ndim is not None and array.ndim != ndim:
        raise InvalidInputError(
            f"Data Array {document.getId()!r} has {array.ndim} dimensions, {ndim} expected"
        )
    if numeric and np.dtype(array.dtype).kind not in "biufc":
        raise InvalidInputError(
            f"Data Array {document.getId()!r} holds {array.dtype}, not numbers"
        )
    return array


def extract_channel(
    stream: Any, channel: int = 0, reference: str | None = None, dtype: Any = None
) -> Any:
    """A new 1-D Data Array with one channel of the recording, filled block by block."""
    info = audio_info(stream)
    channel = as_int("channel", channel, 0, info.channels - 1)
    target_dtype = channel_dtype(dtype) if dtype not in (None, "") else native_dtype(info)
    reference = _reference(reference)
    reserve_disk(stream, info.frames * target_dtype.itemsize, f"channel {channel} of the recording")
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
    reference = _reference(reference)
    if not _flag("real", real) or np.iscomplexobj(np.zeros(0, signal.dtype)):
        raise InvalidInputError(
            "only real signals are transformed (real=True): use a real Data Array"
        )
    n = len(signal)
    try:
        check_real_length(n)
    except ValueError as error:
        raise InvalidInputError(str(error)) from None
    except OutOfCoreError as error:
        raise QuotaExceededError(str(error)) from None
    scratch = 0 if fits_in_memory(n) else 2 * (n // 2 + 1) * 16
    reserve_disk(source, (n // 2 + 1) * 16, "the spectrum", scratch_bytes=scratch)
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
    rate = _optional_rate(sample_rate) or spectrum.getSampleRate()
    length = spectrum.getSignalLength()
    if length and (length // 2 + 1) * 8 > get_memory_budget():
        raise QuotaExceededError(
            f"the frequencies of {length} samples take more memory than the budget "
            f"({get_memory_budget()} bytes)"
        )
    if not rate or not length:
        raise InvalidInputError(
            f"Data Array {spectrum.getId()!r} does not say its sample rate and signal length; "
            "pass sample_rate= and use a spectrum made by DataArray_computeFFT"
        )
    return _readonly(frequency_list(length, rate))  # scripts call this


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
    nperseg = as_int("nperseg", nperseg, 2, MAX_NPERSEG)
    if noverlap is not None and noverlap != "":
        noverlap = as_int("noverlap", noverlap, 0, nperseg - 1)
    else:
        noverlap = None
    window = as_choice("window", window, WINDOWS)
    rate = float(_optional_rate(sample_rate) or source.getSampleRate() or 1.0)
    reference = _reference(reference)
    noverlap = check_parameters(len(signal), nperseg, noverlap)
    frames = frame_count(len(signal), nperseg, noverlap)
    reserve_disk(source, frames * (nperseg // 2 + 1) * 8, f"a spectrogram of {frames} frames")
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
    kind = as_choice("kind", kind, KINDS)
    array = _require_array(document)
    options = plot_options(options)
    options.setdefault("sample_rate", document.getSampleRate() or None)
    options.setdefault("title", document.getTitle() or document.getId())
    return plot_array(array, kind=kind, **options)


def plot_options(options: dict[str, Any]) -> dict[str, Any]:
    """The plot options validated: known names, bounded sizes (a figure sizes its memory)."""
    unknown = sorted(str(name)[:40] for name in options if name not in PLOT_OPTIONS)
    if unknown:
        raise InvalidInputError(
            f"unknown plot option(s) {', '.join(unknown)} (known: {', '.join(PLOT_OPTIONS)})"
        )
    checked: dict[str, Any] = {}
    if "sample_rate" in options:
        checked["sample_rate"] = _optional_rate(options["sample_rate"])
    if "bins" in options:
        checked["bins"] = as_int("bins", options["bins"], 1, MAX_BINS)
    if "title" in options:
        title = options["title"]
        if not isinstance(title, str) or len(title) > MAX_TITLE:
            raise InvalidInputError(f"title must be text of at most {MAX_TITLE} characters")
        checked["title"] = title
    if "figsize" in options:
        size = options["figsize"]
        if not isinstance(size, list | tuple) or len(size) != 2:
            raise InvalidInputError(f"figsize must be (width, height) in inches, got {size!r}")
        checked["figsize"] = tuple(
            as_float(f"figsize {side}", value, 1.0, MAX_FIGURE_INCHES)
            for side, value in zip(("width", "height"), size, strict=True)
        )
    return checked


def save_image(context: Any, figure: Any, reference: Any, title: str | None = None) -> Any:
    """Render a figure to PNG and store it as an Image in the image module."""
    from .figures import figure_png

    if not hasattr(figure, "savefig"):
        if hasattr(figure, "gcf"):  # the pyplot module, as ERP5 notebooks pass it
            figure = figure.gcf()
        else:
            raise InvalidInputError(
                f"Base_saveImage needs a matplotlib figure, got {type(figure).__name__}"
            )
    reference = _reference(reference)
    if not reference:
        raise InvalidInputError("Base_saveImage needs a reference for the Image")
    if title is not None and (not isinstance(title, str) or len(title) > MAX_TITLE):
        raise InvalidInputError(f"title must be text of at most {MAX_TITLE} characters")
    reserve_disk(context, IMAGE_BYTES, "the Image")
    module = getattr(context.getPortalObject(), IMAGE_MODULE)
    image = module.newContent(portal_type="Image", reference=reference, title=title or reference)
    image.setData(figure_png(figure))
    return image


def _batch_rows(array: Any, rows: Any) -> int:
    """``rows`` validated: a positive count whose in-memory batch fits the budget."""
    rows = as_int("rows", rows, 1, MAX_ROWS)
    row_bytes = int(np.prod(array.shape[1:], dtype=np.int64)) * np.dtype(array.dtype).itemsize
    if min(rows, len(array)) * row_bytes > get_memory_budget():
        raise QuotaExceededError(
            f"a batch of {rows} rows of {row_bytes} bytes takes more memory than the budget "
            f"({get_memory_budget()} bytes): ask for fewer rows"
        )
    return rows


def batches(document: Any, rows: Any) -> Any:
    """In-memory batches of ``rows`` rows of a Data Array (validated before the first)."""
    array = _require_array(document)
    return iterate_batches(array, _batch_rows(array, rows))


def fit(document: Any, estimator: Any, rows: Any, **fit_params: Any) -> Any:
    """Fit an incremental scikit-learn estimator on a Data Array, batch by batch."""
    array = _require_array(document)
    return fit_incremental(estimator, array, _batch_rows(array, rows), **fit_params)


def cluster_frames(
    document: Any, n_clusters: int = 4, rows: int = 4096, reference: str | None = None
) -> Any:
    """A new 1-D Data Array with a k-means label for each row (frame) of a 2-D Data Array."""
    from .learn import cluster_rows

    frames = _require_array(document, ndim=2)
    n_clusters = as_int("n_clusters", n_clusters, 1, MAX_CLUSTERS)
    rows = _batch_rows(frames, rows)
    reference = _reference(reference)
    if len(frames) < n_clusters:
        raise InvalidInputError(f"{len(frames)} rows cannot make {n_clusters} clusters")
    reserve_disk(document, len(frames) * 4, "the cluster labels")
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
    reference = _reference(reference) or f"{document.getReference() or document.getId()}-{kind}"
    return save_image(document, figure, reference, title=f"{kind} of {document.getTitle()}")

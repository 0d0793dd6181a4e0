"""Streaming short-time Fourier transform into a 2-D array (frames x frequencies).

Frames are windowed and transformed a batch at a time from a mapped view of the
signal, so memory is bounded whatever the length. The values are the power spectral
density, as ``scipy.signal.spectrogram(..., detrend=False, mode="psd")`` computes it
(transposed: one row per frame).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.fft
import scipy.signal

from ..errors import InvalidInputError
from .blocks import rows_for


def frame_count(length: int, nperseg: int, noverlap: int) -> int:
    """Number of full frames of ``nperseg`` samples, ``nperseg - noverlap`` apart."""
    if length < nperseg:
        return 0
    return (length - noverlap) // (nperseg - noverlap)


def check_parameters(length: int, nperseg: int, noverlap: int | None) -> int:
    """Validate the frame parameters; return ``noverlap`` (default ``nperseg // 8``)."""
    if nperseg < 2:
        raise InvalidInputError(f"nperseg must be at least 2, got {nperseg}")
    noverlap = nperseg // 8 if noverlap is None else int(noverlap)
    if not 0 <= noverlap < nperseg:
        raise InvalidInputError(f"noverlap must be in [0, nperseg={nperseg}), got {noverlap}")
    if length < nperseg:
        raise InvalidInputError(
            f"the signal has {length} samples, fewer than nperseg={nperseg}"
        )
    return noverlap


def spectrogram_into(
    source: Any,
    target: Any,
    sample_rate: float,
    nperseg: int,
    noverlap: int,
    window: str | tuple = "hann",
) -> None:
    """Write the spectrogram of 1-D ``source`` into ``target`` (frames x nperseg//2+1)."""
    length = len(source)
    frames = frame_count(length, nperseg, noverlap)
    bins = nperseg // 2 + 1
    if tuple(target.shape) != (frames, bins):
        raise ValueError(f"target must have shape {(frames, bins)}, has {tuple(target.shape)}")
    win = scipy.signal.get_window(window, nperseg).astype(np.float64)
    scale = 1.0 / (sample_rate * (win * win).sum())
    onesided = np.full(bins, 2.0 * scale)
    onesided[0] = scale
    if nperseg % 2 == 0:
        onesided[-1] = scale
    hop = nperseg - noverlap
    signal = source[:]
    batch = rows_for(nperseg * 16 * 3)
    for first in range(0, frames, batch):
        last = min(first + batch, frames)
        start = first * hop
        stop = (last - 1) * hop + nperseg
        chunk = np.asarray(signal[start:stop], dtype=np.float64)
        windows = np.lib.stride_tricks.sliding_window_view(chunk, nperseg)[::hop]
        spectrum = scipy.fft.rfft(windows * win, axis=1)
        power = spectrum.real**2 + spectrum.imag**2
        power *= onesided
        target[first:last] = power

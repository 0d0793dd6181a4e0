"""Figures of arrays of any size: min/max decimation keeps what the eye would see.

A line plot of n points on w pixel columns draws, per column, the minimum and the
maximum of its samples (computed block by block), so spikes survive and a billion
points plot as fast as a few thousand. Figures are ``matplotlib.figure.Figure``
objects (no pyplot state), ready for ``Base_renderAsHtml`` or ``Base_saveImage``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ..errors import InvalidInputError
from .decimate import minmax_decimate

DEFAULT_BINS = 2000
KINDS = ("line", "spectrum", "spectrogram")


def _pool_2d(array: Any, max_rows: int, max_cols: int) -> np.ndarray:
    """Max-pool a 2-D array down to at most ``max_rows`` x ``max_cols``, block by block."""
    rows, cols = array.shape
    row_edges = np.linspace(0, rows, min(rows, max_rows) + 1).astype(np.int64)
    col_edges = np.linspace(0, cols, min(cols, max_cols) + 1).astype(np.int64)[:-1]
    view = array[:]
    pooled = np.empty((len(row_edges) - 1, len(col_edges)))
    for index in range(len(row_edges) - 1):
        block = np.asarray(view[row_edges[index] : row_edges[index + 1]])
        pooled[index] = np.maximum.reduceat(block.max(axis=0), col_edges)
    return pooled


def plot_array(
    array: Any,
    kind: str = "line",
    sample_rate: float | None = None,
    title: str = "",
    bins: int = DEFAULT_BINS,
    figsize: tuple[float, float] = (10, 4),
) -> Figure:
    """A figure of a 1-D signal, its spectrum (magnitude in dB) or a 2-D spectrogram."""
    if kind not in KINDS:
        raise InvalidInputError(f"unknown plot kind {kind!r} (known: {', '.join(KINDS)})")
    figure = Figure(figsize=figsize)
    FigureCanvasAgg(figure)  # its own canvas: rendering never looks at pyplot's backend
    axes = figure.add_subplot()
    if kind == "spectrogram":
        if len(array.shape) != 2:
            raise InvalidInputError(
                f"a spectrogram plot needs a 2-D array, got shape {array.shape}"
            )
        pooled = _pool_2d(array, 1000, 600)
        image = 10 * np.log10(np.maximum(pooled.T, 1e-20))
        top = sample_rate / 2 if sample_rate else array.shape[1]
        axes.imshow(image, origin="lower", aspect="auto", extent=(0, array.shape[0], 0, top))
        axes.set_xlabel("frame")
        axes.set_ylabel("frequency (Hz)" if sample_rate else "bin")
    else:
        if len(array.shape) != 1:
            raise InvalidInputError(f"a {kind} plot needs a 1-D array, got shape {array.shape}")
        positions, minima, maxima = minmax_decimate(array, bins)
        if kind == "spectrum":
            n_signal = 2 * (len(array) - 1)
            if sample_rate:
                positions = positions * sample_rate / max(n_signal, 1)
            minima = 20 * np.log10(np.maximum(minima, 1e-20))
            maxima = 20 * np.log10(np.maximum(maxima, 1e-20))
            axes.set_xlabel("frequency (Hz)" if sample_rate else "bin")
            axes.set_ylabel("magnitude (dB)")
        else:
            if sample_rate:
                positions = positions / sample_rate
            axes.set_xlabel("time (s)" if sample_rate else "sample")
        axes.fill_between(positions, minima, maxima, linewidth=0.6, step="mid")
        axes.plot(positions, maxima, linewidth=0.4)
    axes.set_title(title)
    figure.tight_layout()
    return figure

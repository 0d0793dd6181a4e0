"""Min/max decimation, block by block: the one algorithm behind every plot and waveform.

A signal of ``total`` frames is cut into ``width`` columns, frame ``f`` in column
``f * width // total``; each column keeps the minimum and the maximum of its frames, so
a peak one frame wide still shows. Blocks arrive one at a time (array views, decoded
audio), so memory stays at one block whatever the length.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from .blocks import rows_for


def minmax_columns(
    blocks: Iterable[np.ndarray], total: int, width: int, channels: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per column and channel, the min and max of ``total`` frames arriving as 2-D blocks.

    Columns without frames (``total < width``) hold NaN.
    """
    lows = np.full((width, channels), np.inf)
    highs = np.full((width, channels), -np.inf)
    position = 0
    for block in blocks:
        count = len(block)
        if count == 0:
            continue
        columns = (np.arange(position, position + count, dtype=np.int64) * width) // max(total, 1)
        columns = np.minimum(columns, width - 1)
        starts = np.concatenate(([0], np.flatnonzero(np.diff(columns)) + 1))
        ids = columns[starts]
        lows[ids] = np.minimum(lows[ids], np.minimum.reduceat(block, starts, axis=0))
        highs[ids] = np.maximum(highs[ids], np.maximum.reduceat(block, starts, axis=0))
        position += count
    empty = ~np.isfinite(lows)
    lows[empty] = np.nan
    highs[empty] = np.nan
    return lows, highs


def column_edges(total: int, width: int) -> np.ndarray:
    """The first frame of each column, and ``total`` last (``width + 1`` values)."""
    return (np.arange(width + 1, dtype=np.int64) * total + width - 1) // width


def minmax_decimate(array: Any, bins: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(positions, minima, maxima)`` of a 1-D array in at most ``bins`` columns.

    Positions are each column's middle frame; complex values count by magnitude.
    """
    total = len(array)
    if total == 0:
        empty = np.zeros(0)
        return empty, empty, empty
    bins = min(bins, total)
    step = rows_for(8 * 4)
    view = array[:]

    def blocks() -> Iterable[np.ndarray]:
        for start in range(0, total, step):
            values = np.asarray(view[start:min(total, start + step)])
            if np.iscomplexobj(values):
                values = np.abs(values)
            yield values.reshape(-1, 1)

    lows, highs = minmax_columns(blocks(), total, bins, 1)
    edges = column_edges(total, bins)
    positions = (edges[:-1] + edges[1:] - 1) / 2.0
    return positions, lows[:, 0], highs[:, 0]

"""Data Array previews: facts, the first rows, and plots with min/max decimation.

A plot reads the array block by block along its major axis (lazily mapped views)
and keeps one (min, max) pair per pixel column, so a billion points plot in one
pass with memory proportional to the picture, not to the array.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np

from ..analysis.decimate import minmax_columns
from ..humanize import human_size

#: Rows read per block while decimating.
BLOCK_ROWS = 1 << 18
#: 2-D arrays with at most this many columns plot as one line per column, else as an image.
MAX_SERIES = 8
PLOT_WIDTH = 900


def array_info(document: Any) -> dict[str, Any]:
    """Shape, dtype, element count and byte size of a Data Array (empty dict before init)."""
    shape = document.getArrayShape()
    if shape is None:
        return {}
    dtype = document.getArrayDtype()
    count = int(np.prod(shape)) if shape else 1
    return {
        "shape": " × ".join(str(n) for n in shape) or "scalar",
        "ndim": len(shape),
        "dtype": str(dtype),
        "count": f"{count:,}",
        "size": human_size(document.getSize()),
    }


def line_list(document: Any, can_view: Any) -> list[dict[str, Any]]:
    """The Data Array Lines of a Data Array the visitor may see: title, URL, index, shape."""
    if not hasattr(document, "objectValues"):
        return []
    lines = []
    for line in document.objectValues("Wendelin Data Array Line"):
        if not can_view(line):
            continue
        try:
            shape = line.getArrayShape()
        except ValueError as exc:  # an index that no longer fits the parent's shape
            shape, problem = None, str(exc)
        else:
            problem = ""
        lines.append({
            "title": line.getTitle() or line.getReference() or line.getId(),
            "url": line.absolute_url() + "/view",
            "index_expression": line.getIndexExpression() or "...",
            "shape": "" if shape is None else " × ".join(str(n) for n in shape) or "scalar",
            "problem": problem,
        })
    return lines


def parent_info(document: Any) -> dict[str, Any]:
    """For a Data Array Line: its parent's title and page, its index, dtype and names."""
    if not hasattr(document, "getParentDataArray"):
        return {}
    parent = document.getParentDataArray()
    return {
        "title": parent.getTitle() or parent.getReference() or parent.getId(),
        "url": parent.absolute_url() + "/view",
        "index_expression": document.getIndexExpression() or "...",
        "dtype": document.getDtype(),
        "names": ", ".join(document.getNameList()),
    }


def _cell(value: Any) -> str:
    if isinstance(value, float | np.floating):
        return f"{value:.6g}"
    return str(value)


def first_rows(document: Any, rows: int = 10, columns: int = 8) -> dict[str, Any]:
    """The first ``rows`` x ``columns`` values as text, with the column headers."""
    array = document.getArray()
    if array is None or not array.shape or array.shape[0] == 0:
        return {"header": [], "rows": [], "more_columns": False}
    view = np.asarray(array[: min(rows, array.shape[0])])
    if view.ndim == 1:
        table = view.reshape(-1, 1)
        header = ["value"]
    else:
        table = view.reshape(view.shape[0], -1)
        header = [str(i) for i in range(min(columns, table.shape[1]))]
    return {
        "header": header,
        "rows": [
            {"index": i, "cells": [_cell(v) for v in row[:columns]]} for i, row in enumerate(table)
        ],
        "more_columns": table.shape[1] > columns,
        "more_rows": array.shape[0] > rows,
    }


def plot_kind(document: Any) -> str:
    """``"line"``, ``"image"`` or ``""`` (nothing to plot) for this array."""
    array = document.getArray()
    if array is None or array.ndim not in (1, 2) or array.shape[0] == 0:
        return ""
    if array.dtype.kind not in "biuf":
        return ""
    if array.ndim == 2 and array.shape[1] == 0:
        return ""
    return "line" if array.ndim == 1 or array.shape[1] <= MAX_SERIES else "image"


def _row_blocks(array: Any):
    """Views of ``BLOCK_ROWS`` rows at a time, as float64 2-D blocks."""
    total = array.shape[0]
    for start in range(0, total, BLOCK_ROWS):
        block = np.asarray(array[start:min(total, start + BLOCK_ROWS)])
        block = block.reshape(len(block), -1)
        yield block.astype(np.float64, copy=False)


def decimate_lines(array: Any, width: int = PLOT_WIDTH) -> tuple[np.ndarray, np.ndarray]:
    """Per pixel column and series, the (min, max) of the rows that fall in it."""
    series = 1 if array.ndim == 1 else array.shape[1]
    return minmax_columns(_row_blocks(array), array.shape[0], width, series)


def decimate_image(array: Any, rows: int = 300, columns: int = 600) -> np.ndarray:
    """A 2-D array reduced to at most ``rows`` x ``columns`` cells, keeping each cell's max."""
    total_rows, total_columns = array.shape
    out_rows, out_columns = min(rows, total_rows), min(columns, total_columns)
    col_ids = (np.arange(total_columns) * out_columns) // total_columns
    col_starts = np.concatenate(([0], np.flatnonzero(np.diff(col_ids)) + 1))
    reduced_columns = [
        np.maximum.reduceat(block, col_starts, axis=1) for block in _row_blocks(array)
    ]
    _lows, highs = minmax_columns(
        reduced_columns, total_rows, out_rows, len(col_starts)
    )
    return highs


def plot_png(document: Any, width: int = PLOT_WIDTH) -> bytes:
    """The array's plot as PNG bytes: envelope lines for 1-D/narrow 2-D, an image otherwise.

    Drawn on its own Figure and Agg canvas: no pyplot, no backend switch, so a page never
    changes what notebook cells running in the same process draw on.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    array = document.getArray()
    kind = plot_kind(document)
    if not kind:
        raise ValueError("this array cannot be plotted (needs 1 or 2 numeric dimensions)")
    figure = Figure(figsize=(width / 100, 3.2), dpi=100)
    canvas = FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    total = array.shape[0]
    if kind == "line":
        lows, highs = decimate_lines(array, width)
        x = (np.arange(width) + 0.5) * total / width
        for series in range(lows.shape[1]):
            label = None if lows.shape[1] == 1 else f"column {series}"
            if total <= width:
                axes.plot(np.arange(total), np.asarray(array[:]).reshape(total, -1)[:, series],
                          linewidth=1, label=label)
            else:
                axes.fill_between(x, lows[:, series], highs[:, series], linewidth=0.6,
                                  alpha=0.85, label=label, step="mid")
        if lows.shape[1] > 1:
            axes.legend(loc="upper right", fontsize="small")
        axes.set_xlim(0, max(total - 1, 1))
        axes.set_xlabel("index")
        axes.grid(True, alpha=0.3)
    else:
        cells = decimate_image(array)
        image = axes.imshow(
            cells.T, aspect="auto", origin="lower", interpolation="nearest",
            extent=(0, total, 0, array.shape[1]),
        )
        figure.colorbar(image, ax=axes)
        axes.set_xlabel("row")
        axes.set_ylabel("column")
    figure.tight_layout()
    out = io.BytesIO()
    canvas.print_png(out)
    return out.getvalue()

"""A matplotlib figure as PNG bytes: what plots stored as Images and notebook output share."""

from __future__ import annotations

import io
from typing import Any


def figure_png(figure: Any) -> bytes:
    """Render a matplotlib figure to PNG bytes with the Agg renderer (matplotlib on first use)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    if not isinstance(figure.canvas, FigureCanvasAgg):
        FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", bbox_inches="tight")
    return buffer.getvalue()

"""A matplotlib backend that tells which notebook cell created each pyplot figure.

Selected with ``matplotlib.use("module://Products.Wendelin.jupyter.mpl_backend")``.
Figures render with Agg; each figure manager records the thread that created it, so
the cell running in that thread (and only that one) sends the figure back as PNG.
"""

from __future__ import annotations

import threading

from matplotlib._pylab_helpers import Gcf
from matplotlib.backend_bases import FigureManagerBase
from matplotlib.backends.backend_agg import FigureCanvasAgg

NAME = "module://Products.Wendelin.jupyter.mpl_backend"


class FigureManagerWendelin(FigureManagerBase):
    """A figure manager remembering the thread (so the cell) that created the figure."""

    def __init__(self, canvas, num) -> None:
        super().__init__(canvas, num)
        self.thread_id = threading.get_ident()


class FigureCanvasWendelin(FigureCanvasAgg):
    manager_class = FigureManagerWendelin


FigureCanvas = FigureCanvasWendelin
FigureManager = FigureManagerWendelin


def thread_figures() -> list:
    """Open pyplot figures created by the current thread, oldest first."""
    me = threading.get_ident()
    return [
        manager.canvas.figure
        for manager in Gcf.get_all_fig_managers()
        if getattr(manager, "thread_id", None) == me
    ]


def close_thread_figures() -> None:
    """Close the current thread's pyplot figures (a cell never leaks figures to the next)."""
    import matplotlib.pyplot as plt

    for figure in thread_figures():
        plt.close(figure)


def show(*args, **kwargs) -> None:
    """``plt.show()`` in a cell: display this cell's figures now, then close them."""
    from .display import display

    for figure in thread_figures():
        display(figure)
    close_thread_figures()

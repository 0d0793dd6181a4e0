"""UI and analysis plots leave matplotlib's process-wide backend alone.

A page that plots an array once switched pyplot to Agg for the whole process; a notebook
cell drawing with pyplot afterwards (or meanwhile, on another thread) got no image.
"""

from __future__ import annotations

import base64

import matplotlib
import numpy as np
import pytest
from Products.Wendelin.analysis.plot import plot_array
from Products.Wendelin.jupyter import mpl_backend
from Products.Wendelin.jupyter.execution import ensure_backend, run_cell
from Products.Wendelin.ui.arrays import plot_png

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def plotted_array(portal):
    document = portal.data_array_module.newContent(reference="backend-probe")
    array = document.initArray((5000,), np.float64)
    array[:] = np.sin(np.arange(5000) / 50)
    return document


def test_ui_plot_keeps_the_backend_and_renders_png(plotted_array):
    ensure_backend()
    assert matplotlib.get_backend() == mpl_backend.NAME
    assert plot_png(plotted_array).startswith(PNG_MAGIC)
    assert matplotlib.get_backend() == mpl_backend.NAME


def test_analysis_figures_render_without_pyplot_whatever_the_backend():
    ensure_backend()
    figure = plot_array(np.sin(np.arange(3000) / 7), "line")
    from Products.Wendelin.analysis.figures import figure_png

    assert figure_png(figure).startswith(PNG_MAGIC)
    assert matplotlib.get_backend() == mpl_backend.NAME


def test_a_cell_still_gets_its_pyplot_figure_after_a_ui_plot(portal, plotted_array):
    namespace = {"plot_png": plot_png, "document": plotted_array}
    code = (
        "import matplotlib.pyplot as plt\n"
        "page = plot_png(document)\n"  # what a UI request on another thread would do
        "plt.plot([3, 1, 2])\n"
        "None\n"
    )
    cell = run_cell(code, namespace)
    assert cell.status == "ok", cell.traceback
    assert namespace["page"].startswith(PNG_MAGIC)
    pngs = [base64.b64decode(d["data"]["image/png"]) for d in cell.displays]
    assert len(pngs) == 1 and pngs[0].startswith(PNG_MAGIC)

"""The Data Notebook page: its cells and outputs, sanitised, and the link to Jupyter."""

from __future__ import annotations

from typing import Any

from AccessControl.class_init import InitializeClass
from AccessControl.SecurityInfo import ClassSecurityInfo

from ...permissions import View
from .. import notebook
from .base import (
    BaseView,
)


class DataNotebookView(BaseView):
    """A Data Notebook: its cells with sanitised outputs and the "Open in Jupyter" link."""

    security = ClassSecurityInfo()
    template = "DataNotebook_view"

    @security.protected(View)
    def notebook(self) -> dict[str, Any]:
        """Cells (outputs already sanitised HTML) and the Jupyter URL."""
        doc = self.context
        reference = doc.getReference() or doc.getId()
        return {
            "cells": notebook.notebook_cells(doc),
            "jupyter_url": notebook.jupyter_url(reference, self.request.get("SERVER_URL", "")),
        }


InitializeClass(DataNotebookView)

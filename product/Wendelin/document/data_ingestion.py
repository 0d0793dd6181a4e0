"""Data Ingestion and its lines: one act of ingestion of a supply.

``getSpecialiseValue()`` is the Data Supply; the line whose reference is ``out_stream``
aggregates the Data Stream the data is appended to; a started ingestion is what the
alarm's analyses read.
"""

from __future__ import annotations

from typing import Any

from AccessControl.class_init import InitializeClass
from AccessControl.SecurityInfo import ClassSecurityInfo

from ..permissions import View
from .pipeline_base import PipelineDocument, PipelineFolder


class DataIngestion(PipelineFolder):
    """One ingestion: its ``out_stream`` line's aggregate is the Data Stream."""

    meta_type = "Wendelin Data Ingestion"
    portal_type = "Data Ingestion"
    security = ClassSecurityInfo()
    has_simulation_state = True

    @security.protected(View)
    def getOutStreamValue(self) -> Any:
        """The Data Stream of the ``out_stream`` line, or None."""
        for line in self.getLineList(reference="out_stream"):
            stream = line.getAggregateValue(portal_type="Data Stream")
            if stream is not None:
                return stream
        return None


InitializeClass(DataIngestion)


class DataIngestionLine(PipelineDocument):
    """A line of an ingestion: a product (``resource``) and the items holding it."""

    meta_type = "Wendelin Data Ingestion Line"
    portal_type = "Data Ingestion Line"
    security = ClassSecurityInfo()


InitializeClass(DataIngestionLine)

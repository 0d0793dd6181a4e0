"""Data Transformation: an input product, a Data Operation and an output product.

ERP5's form: the transformation's ``resource`` is the product it consumes; its resource
lines (``in_stream``: consumed, quantity -1; ``out_array``: produced) and its operation
line (the Data Operation, whose ``script_id`` runs) are copied into each Data Analysis
made from it. ``analysis_grouping`` is the preference: ``ingestion`` (one analysis per
matching ingestion, the default) or ``shared`` (one analysis for all of them).
"""

from __future__ import annotations

from AccessControl.class_init import InitializeClass
from AccessControl.SecurityInfo import ClassSecurityInfo

from ..errors import InvalidInputError
from ..permissions import View
from .pipeline_base import PIPELINE_PROPERTIES, PipelineDocument, PipelineFolder

GROUPINGS = ("ingestion", "shared")


def _check_grouping(value: str) -> str:
    if value not in GROUPINGS:
        raise InvalidInputError(f"analysis_grouping must be one of {', '.join(GROUPINGS)}")
    return value


class DataTransformation(PipelineFolder):
    """What to do with a product: resource lines and an operation line."""

    meta_type = "Wendelin Data Transformation"
    portal_type = "Data Transformation"
    security = ClassSecurityInfo()
    property_types = {**PIPELINE_PROPERTIES, "analysis_grouping": str}
    property_checks = {"analysis_grouping": _check_grouping}
    analysis_grouping = "ingestion"

    @security.protected(View)
    def getAnalysisGrouping(self) -> str:
        """``ingestion`` (one Data Analysis per ingestion) or ``shared`` (one for all)."""
        return self.analysis_grouping

    @security.protected(View)
    def getExtraInfo(self) -> str:
        """The grouping preference, for the page."""
        return f"analyses: one per {self.analysis_grouping}" if self.analysis_grouping == (
            "ingestion") else "analyses: one shared by all ingestions"


InitializeClass(DataTransformation)


class DataTransformationResourceLine(PipelineDocument):
    """A product the transformation consumes (quantity < 0) or produces."""

    meta_type = "Wendelin Data Transformation Resource Line"
    portal_type = "Data Transformation Resource Line"
    security = ClassSecurityInfo()


InitializeClass(DataTransformationResourceLine)


class DataTransformationOperationLine(PipelineDocument):
    """The Data Operation the transformation runs (``resource``)."""

    meta_type = "Wendelin Data Transformation Operation Line"
    portal_type = "Data Transformation Operation Line"
    security = ClassSecurityInfo()


InitializeClass(DataTransformationOperationLine)

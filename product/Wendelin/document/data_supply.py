"""Data Supply and Data Supply Line: what arrives from where, under which product.

An Ingestion Policy feeds a supply; each ingestion of it is a Data Ingestion whose
``specialise`` is the supply. A line names a product (``resource``) and, through
``aggregate``, where it is kept.
"""

from __future__ import annotations

from AccessControl.class_init import InitializeClass
from AccessControl.SecurityInfo import ClassSecurityInfo

from ..permissions import View
from .pipeline_base import PIPELINE_PROPERTIES, PipelineDocument, PipelineFolder


class DataSupply(PipelineFolder):
    """A source of data: its lines say which products arrive."""

    meta_type = "Wendelin Data Supply"
    portal_type = "Data Supply"
    security = ClassSecurityInfo()
    #: ``sensor.product``: tags name the product (``<sensor>.<product>``), as ``default``.
    property_types = {**PIPELINE_PROPERTIES, "tag_format": str}
    tag_format = ""

    @security.protected(View)
    def getTagFormat(self) -> str:
        """How tags are read: '' (the supply's own product) or ``sensor.product``."""
        return self.tag_format


InitializeClass(DataSupply)


class DataSupplyLine(PipelineDocument):
    """One product a supply delivers (``resource``), and the operation ingesting it."""

    meta_type = "Wendelin Data Supply Line"
    portal_type = "Data Supply Line"
    security = ClassSecurityInfo()


InitializeClass(DataSupplyLine)

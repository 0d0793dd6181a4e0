"""Data Supply and Data Supply Line: what arrives from where, under which product.

An Ingestion Policy feeds a supply; each ingestion of it is a Data Ingestion whose
``specialise`` is the supply. A line names a product (``resource``) and, through
``aggregate``, where it is kept.
"""

from __future__ import annotations

from AccessControl.class_init import InitializeClass
from AccessControl.SecurityInfo import ClassSecurityInfo

from .pipeline_base import PipelineDocument, PipelineFolder


class DataSupply(PipelineFolder):
    """A source of data: its lines say which products arrive."""

    meta_type = "Wendelin Data Supply"
    portal_type = "Data Supply"
    security = ClassSecurityInfo()


InitializeClass(DataSupply)


class DataSupplyLine(PipelineDocument):
    """One product a supply delivers (``resource``), and the operation ingesting it."""

    meta_type = "Wendelin Data Supply Line"
    portal_type = "Data Supply Line"
    security = ClassSecurityInfo()


InitializeClass(DataSupplyLine)

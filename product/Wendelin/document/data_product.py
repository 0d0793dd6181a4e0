"""Data Product: a resource, what a supply delivers and a transformation consumes or makes."""

from __future__ import annotations

from AccessControl.class_init import InitializeClass
from AccessControl.SecurityInfo import ClassSecurityInfo

from ..permissions import View
from .pipeline_base import PIPELINE_PROPERTIES, PipelineDocument


class DataProduct(PipelineDocument):
    """A kind of data (a sensor's product); lines of supplies and transformations name it."""

    meta_type = "Wendelin Data Product"
    portal_type = "Data Product"
    security = ClassSecurityInfo()
    property_types = {
        **PIPELINE_PROPERTIES,
        "aggregated_portal_type_list": list,
        "individual_variation_base_category_list": list,
    }
    aggregated_portal_type_list: tuple = ("Data Stream",)
    individual_variation_base_category_list: tuple = ()

    @security.protected(View)
    def getAggregatedPortalTypeList(self) -> list[str]:
        """Portal types of the items this product is held in (Data Stream, Data Array)."""
        return list(self.aggregated_portal_type_list)


InitializeClass(DataProduct)

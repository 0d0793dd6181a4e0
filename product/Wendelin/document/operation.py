"""Data Operation: names the skin script that performs it and its default parameters."""

from AccessControl.class_init import InitializeClass
from AccessControl.SecurityInfo import ClassSecurityInfo

from ..permissions import View
from .base import WendelinDocument


class DataOperation(WendelinDocument):
    """A reusable processing step: ``script_id`` applied to an input document."""

    meta_type = "Wendelin Data Operation"
    portal_type = "Data Operation"
    security = ClassSecurityInfo()
    property_types = {
        **WendelinDocument.property_types,
        "script_id": str,
        "parameter_dict": dict,
        "input_portal_type": str,
        "output_portal_type": str,
    }
    script_id = ""
    input_portal_type = ""
    output_portal_type = ""
    parameter_dict: dict = {}

    @security.protected(View)
    def getScriptId(self) -> str:
        return self.script_id

    @security.protected(View)
    def getParameterDict(self) -> dict:
        return dict(self.parameter_dict)


InitializeClass(DataOperation)

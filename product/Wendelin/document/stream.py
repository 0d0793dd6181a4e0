"""Data Stream: a very large append-only byte file (storage arrives with the out-of-core core)."""

from AccessControl.class_init import InitializeClass
from AccessControl.SecurityInfo import ClassSecurityInfo

from .base import WendelinDocument


class DataStream(WendelinDocument):
    """A stream of bytes, such as an uploaded sound file or a sensor feed."""

    meta_type = "Wendelin Data Stream"
    portal_type = "Data Stream"
    security = ClassSecurityInfo()
    property_types = {**WendelinDocument.property_types, "content_type": str}
    content_type = "application/octet-stream"


InitializeClass(DataStream)

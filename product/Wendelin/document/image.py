"""Image: a picture such as a saved plot, served at its URL."""

from AccessControl.class_init import InitializeClass
from AccessControl.SecurityInfo import ClassSecurityInfo

from .base import WendelinDocument


class Image(WendelinDocument):
    """A picture; bytes, dimensions and content type arrive with the analysis issue."""

    meta_type = "Wendelin Image"
    portal_type = "Image"
    security = ClassSecurityInfo()
    property_types = {**WendelinDocument.property_types, "content_type": str}
    content_type = "image/png"


InitializeClass(Image)

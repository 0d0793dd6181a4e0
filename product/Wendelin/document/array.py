"""Data Array: an n-dimensional numpy-typed array stored out of core."""

from AccessControl.class_init import InitializeClass
from AccessControl.SecurityInfo import ClassSecurityInfo

from .base import WendelinDocument


class DataArray(WendelinDocument):
    """A typed array such as one channel of a recording or its spectrum."""

    meta_type = "Wendelin Data Array"
    portal_type = "Data Array"
    security = ClassSecurityInfo()


InitializeClass(DataArray)

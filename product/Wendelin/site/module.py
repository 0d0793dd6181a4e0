"""Modules: BTree folders holding one family of documents (``data_stream_module``...)."""

from AccessControl.class_init import InitializeClass
from AccessControl.SecurityInfo import ClassSecurityInfo
from Products.CMFCore.CMFBTreeFolder import CMFBTreeFolder

from ..document.base import ToolsByAcquisition
from ..document.container import ContentContainerMixin
from ..permissions import View


class DataModule(ContentContainerMixin, ToolsByAcquisition, CMFBTreeFolder):
    """A scalable folder that accepts only the portal types of its own type information."""

    meta_type = "Wendelin Module"
    security = ClassSecurityInfo()
    security.declareObjectProtected(View)

    @security.protected(View)
    def getTitle(self) -> str:
        return self.title or self.getId()

    @security.protected(View)
    def getPortalType(self) -> str:
        return self.portal_type

    @security.protected(View)
    def getDocumentCount(self) -> int:
        """Number of documents in the module, without loading them."""
        return self.objectCount()


InitializeClass(DataModule)

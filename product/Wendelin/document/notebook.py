"""Data Notebook and Data Notebook Line: notebooks stored in the portal."""

from AccessControl.class_init import InitializeClass
from AccessControl.SecurityInfo import ClassSecurityInfo
from Products.CMFCore.CMFBTreeFolder import CMFBTreeFolder
from Products.CMFCore.CMFCatalogAware import CMFCatalogAware
from Products.CMFCore.interfaces import IContentish
from zope.interface import implementer

from ..permissions import View
from ..site.container import ContentContainerMixin
from .base import DocumentMixin, WendelinDocument


@implementer(IContentish)
class DataNotebook(DocumentMixin, ContentContainerMixin, CMFCatalogAware, CMFBTreeFolder):
    """A notebook found by reference; its executed cells are Data Notebook Lines."""

    meta_type = "Wendelin Data Notebook"
    portal_type = "Data Notebook"
    security = ClassSecurityInfo()
    security.declareObjectProtected(View)

    def __init__(self, id: str, **properties) -> None:
        CMFBTreeFolder.__init__(self, id)
        self._initDocument(properties)

    _getCatalogTool = DocumentMixin._getCatalogTool
    manage_options = CMFBTreeFolder.manage_options


InitializeClass(DataNotebook)


class DataNotebookLine(WendelinDocument):
    """One executed cell: its code, its result and the result's mime type."""

    meta_type = "Wendelin Data Notebook Line"
    portal_type = "Data Notebook Line"
    security = ClassSecurityInfo()
    property_types = {
        **WendelinDocument.property_types,
        "notebook_code": str,
        "notebook_code_result": str,
        "mime_type": str,
    }
    notebook_code = ""
    notebook_code_result = ""
    mime_type = "text/plain"


InitializeClass(DataNotebookLine)

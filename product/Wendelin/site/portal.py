"""The portal object at ``/erp5``: a CMF site whose skins and tools everything acquires."""

from AccessControl.class_init import InitializeClass
from AccessControl.SecurityInfo import ClassSecurityInfo
from Products.CMFCore.PortalObject import PortalObjectBase

from ..permissions import View


class WendelinSite(PortalObjectBase):
    """The Wendelin portal; documents reach it with ``getPortalObject()``."""

    meta_type = "Wendelin Site"
    portal_type = "Wendelin Site"
    security = ClassSecurityInfo()
    security.declareObjectProtected(View)

    #: Hash of the business templates last applied, so unchanged starts skip the upgrade.
    _business_template_digest = ""

    @security.public
    def getPortalObject(self):
        return self

    @security.public
    def portal_url(self) -> str:
        """The portal's URL, acquired by every page (CMF's ``portal_url``)."""
        return self.absolute_url()

    @security.protected(View)
    def index_html(self, REQUEST=None, RESPONSE=None):
        """Front page: the modules and their document counts."""
        return self.ERP5Site_view()

    @security.protected(View)
    def getModuleList(self) -> list:
        """The modules of the portal, in the order the business templates define them."""
        from .setup import MODULE_IDS

        return [self._getOb(module_id) for module_id in MODULE_IDS if module_id in self]


InitializeClass(WendelinSite)

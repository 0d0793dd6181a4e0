"""The portal object at ``/erp5``: a CMF site whose skins and tools everything acquires."""

import threading
from typing import Any

from AccessControl.class_init import InitializeClass
from AccessControl.SecurityInfo import ClassSecurityInfo
from Products.CMFCore.PortalObject import PortalObjectBase
from Products.CMFCore.Skinnable import SkinnableObjectManager

from ..cmfprivate import thread_has_skin
from ..permissions import View

_skin_owner = threading.local()


class WendelinSite(PortalObjectBase):
    """The Wendelin portal; documents reach it with ``getPortalObject()``."""

    meta_type = "Wendelin Site"
    portal_type = "Wendelin Site"
    security = ClassSecurityInfo()
    security.declareObjectProtected(View)

    #: Hash of the business templates last applied, so unchanged starts skip the upgrade.
    _business_template_digest = ""
    #: Module ids in the order the applied business templates define them.
    _module_ids: tuple[str, ...] = ()

    def __getattr__(self, name: str):
        """Skin lookup that also works outside a request (scripts, threads, notebooks).

        CMF sets the thread's skin only while traversing a request; a thread that
        opens its own connection gets the default skin of *its* portal here.
        """
        if name[:1] not in ("_", "@", "+") and not name.startswith("aq_"):
            if not thread_has_skin() or getattr(_skin_owner, "jar", None) is not (
                self._p_jar
            ):
                self._setupDefaultSkin()
        return SkinnableObjectManager.__getattr__(self, name)

    def _setupDefaultSkin(self) -> None:
        """The default skin for this thread, through CMF's own ``changeSkin``."""
        self._p_activate()
        if self.__dict__.get("portal_skins") is None:
            return
        self.changeSkin(None)  # None: the skins tool's default skin

    @security.public
    def changeSkin(self, skinname, REQUEST=None):
        """Change the thread's skin (CMF), remembering which connection it belongs to."""
        PortalObjectBase.changeSkin(self, skinname, REQUEST)
        _skin_owner.jar = self._p_jar

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
    def view(self, REQUEST=None, RESPONSE=None):
        """The front page under its ERP5 name, ``/erp5/view``."""
        return self.ERP5Site_view()

    @security.private
    def standard_error_message(self, client: Any = None, error_type: str = "",
                               error_value: str = "", **kw: Any) -> str:
        """The page Zope shows when a request under the portal fails (styled, escaped)."""
        from html import escape

        from zope.component import queryUtility

        from ..interfaces import IErrorPage

        render = queryUtility(IErrorPage)
        if render is None:  # the UI is not registered (a bare Zope configuration)
            return f"<p>{escape(str(error_type))}: {escape(str(error_value))}</p>"
        return render(self, self.REQUEST, error_type, error_value)

    @security.protected(View)
    def getModuleList(self) -> list:
        """The modules of the portal, in the order the business templates define them."""
        return [self._getOb(module_id) for module_id in self._module_ids if module_id in self]


InitializeClass(WendelinSite)

"""``newContent``: typed creation with sequential ids, for modules and folderish documents.

Ids come from a ``BTrees.Length`` counter, whose conflict resolution lets concurrent
transactions both increment it; two of them picking the same id then collide on the
BTree insert, one is retried, and no id is ever given twice.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from AccessControl import Unauthorized
from AccessControl.class_init import InitializeClass
from AccessControl.SecurityInfo import ClassSecurityInfo
from AccessControl.SecurityManagement import getSecurityManager
from Acquisition import aq_base
from BTrees.Length import Length
from Products.CMFCore.utils import getToolByName
from zExceptions import BadRequest
from zope.component import getUtility
from zope.component.interfaces import IFactory
from ZPublisher import zpublish

from ..cmfprivate import set_portal_type
from ..errors import InvalidInputError, PortalTypeError, StateConflictError
from ..permissions import AddPortalContent, View
from .base import http_answer

#: Ids chosen by users: ASCII letters, digits and ``_.~-``, starting with a letter or
#: digit, so an id is the same string in a URL, a path and the catalog (no spaces,
#: ``#``, ``?``, ``/`` or non-ASCII characters that would need quoting).
ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.~-]{0,99}")


#: Names the publisher and the UI look up on any container (acquired, not class attributes).
PUBLISHING_NAMES = frozenset({"index_html", "view", "standard_error_message", "login_form",
                              "acl_users", "REQUEST", "RESPONSE"})
#: The skin naming rule (``PortalType_verbNoun``): such an id would hide a skin script.
SKIN_NAME = re.compile(r"^[A-Z][A-Za-z0-9]*_")


def check_id(id: Any) -> str:
    """``id`` as a string if it is a valid document id, else InvalidInputError saying why."""
    if isinstance(id, bool) or not isinstance(id, (str, int)):
        raise InvalidInputError(f"id must be a string, got {type(id).__name__}")
    id = str(id)
    if not ID_RE.fullmatch(id):
        raise InvalidInputError(
            f"id {id[:60]!r} is not allowed: use 1 to 100 ASCII letters, digits, '_', '.', "
            "'~' or '-', starting with a letter or digit (no spaces, '#', '?', '/' or "
            "accented characters)"
        )
    return id


class ContentContainerMixin:
    """Creates documents of the portal types its own type allows."""

    security = ClassSecurityInfo()

    if TYPE_CHECKING:  # from the ObjectManager class each container also derives from
        def getId(self) -> str: ...
        def getTypeInfo(self) -> Any: ...
        def _getOb(self, id: str, default: Any = ...) -> Any: ...
        def _setObject(self, id: str, object: Any) -> str: ...

    def _nextId(self) -> str:
        counter = getattr(aq_base(self), "_id_counter", None)
        if counter is None:
            counter = self._id_counter = Length()
        while True:
            counter.change(1)
            candidate = str(counter())
            if self._getOb(candidate, None) is None:
                return candidate

    def _checkId(self, id: str, allow_dup: int = 0) -> None:
        """Every way in (newContent, ZMI rename, paste, ``_setObject``) obeys :data:`ID_RE`."""
        check_id(id)
        if id in PUBLISHING_NAMES or SKIN_NAME.match(id) or hasattr(type(aq_base(self)), id):
            # ``index_html``, ``view``, ``manage_main``, ``Base_view``...: a document must
            # not hide the container's pages, methods or the skins found through it
            raise InvalidInputError(f"the id {id!r} is a name of the container itself")
        super()._checkId(id, allow_dup)  # type: ignore[misc]  # ObjectManager's, by the MRO

    @security.protected(View)
    def getAllowedPortalTypeList(self) -> list[str]:
        """Portal types this container accepts, from its type information."""
        fti = self.getTypeInfo()
        if fti is None:
            return []
        return list(fti.allowed_content_types)

    @security.protected(AddPortalContent)
    @zpublish(False)
    def newContent(self, portal_type: str | None = None, id: str | None = None, **properties: Any):
        """Create a document, catalogue it and return it (acquisition-wrapped).

        ``temp_object=True`` (ERP5's temporary objects) makes a document that is never
        stored nor catalogued, wrapped in this container; its id need not be free.
        """
        temporary = bool(properties.pop("temp_object", False))
        allowed = self.getAllowedPortalTypeList()
        if portal_type is None:
            if not allowed:
                raise PortalTypeError(f"{self.getId()!r} accepts no portal type")
            portal_type = allowed[0]
        if portal_type not in allowed:
            raise PortalTypeError(
                f"{self.getId()!r} does not accept portal type {portal_type!r} "
                f"(allowed: {', '.join(allowed) or 'none'})"
            )
        if not getSecurityManager().checkPermission(AddPortalContent, self):
            raise Unauthorized(f"you may not add {portal_type!r} documents to {self.getId()!r}")
        fti = getToolByName(self, "portal_types").getTypeInfo(portal_type)
        if fti is None:
            raise PortalTypeError(f"unknown portal type {portal_type!r}")
        factory = getUtility(IFactory, fti.factory)
        if temporary:
            document = factory(check_id(id) if id is not None else "temp")
            if not hasattr(type(document), "_temp_object"):
                raise PortalTypeError(f"{portal_type!r} has no temporary documents")
            set_portal_type(document, portal_type)
            document._temp_object = True
            document._setProperties(properties)
            return document.__of__(self)
        if id is None:
            id = self._nextId()
        else:
            id = check_id(id)
            if self._getOb(id, None) is not None:
                raise StateConflictError(f"{self.getId()!r} already holds a document {id!r}")
            try:
                self._checkId(id)
            except BadRequest as error:
                raise InvalidInputError(f"id {id!r} is not allowed: {error}") from None
        document = factory(id)
        set_portal_type(document, portal_type)
        document.__of__(self)._setProperties(properties)  # checks that need the place
        self._setObject(id, document)
        return self._getOb(id)

    @security.protected(AddPortalContent)
    @zpublish(methods="POST")
    def newContentFromJSON(self, REQUEST):
        """HTTP API: create a document from a JSON object body; answer 201 and its JSON
        (the edge's handler, ``http/containers.py``)."""
        return http_answer(self, REQUEST, "newContentFromJSON")


InitializeClass(ContentContainerMixin)

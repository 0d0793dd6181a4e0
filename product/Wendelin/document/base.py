"""The small common base of every Wendelin document.

Title, reference, description, dates, ``edit(**kw)`` and catalog awareness; the
portal-type behaviour lives in one module per type beside this one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

from AccessControl.class_init import InitializeClass
from AccessControl.SecurityInfo import ClassSecurityInfo
from Acquisition import aq_base, aq_get, aq_inner
from DateTime import DateTime
from Products.CMFCore.PortalContent import PortalContent
from ZPublisher import zpublish

from ..errors import UnknownPropertyError
from ..permissions import ModifyPortalContent, View


def relative_url(ob: Any) -> str:
    """Path of ``ob`` below the portal, e.g. ``data_stream_module/1``."""
    portal = aq_inner(ob).getPortalObject()
    prefix = len(portal.getPhysicalPath())
    return "/".join(ob.getPhysicalPath()[prefix:])


def http_answer(document: Any, request: Any, name: str = "") -> Any:
    """What a request to ``document``'s URL (or to its published method ``name``) answers:
    the edge's registered handler.

    Documents know no HTTP: bodies, Range, statuses and headers are the handler's
    (:class:`~..interfaces.IHTTPAnswer`, registered in ``http/configure.zcml``).
    """
    from zope.component import getMultiAdapter

    from ..interfaces import IHTTPAnswer

    return getMultiAdapter((aq_inner(document), request), IHTTPAnswer, name=name)()


#: The id of the portal's activity queue (the activity service installs it).
ACTIVITY_TOOL_ID = "portal_activities"


def activate(obj: Any, **options: Any) -> Any:
    """ERP5's ``obj.activate(**options).method(*args)``: the call is queued, not run.

    The queue is found by name on the portal (as CMF finds tools), so documents do not
    import the activity service above them. Options: see ``ActivityTool.activateObject``.
    """
    from ..errors import StateConflictError

    tool = aq_inner(obj).getPortalObject()._getOb(ACTIVITY_TOOL_ID, None)
    if tool is None:
        raise StateConflictError("this site has no portal_activities yet (start the server)")
    return tool.activateObject(obj, **options)


def find_by_reference(
    context: Any, reference: str, portal_type: str | None = None, *, unrestricted: bool = False,
) -> Any | None:
    """The document with this reference: the one rule every lookup by reference follows.

    References are meant to be unique per portal type, but nothing forbids two
    documents sharing one; then the **oldest** (first created, then lowest id) wins, so
    a later duplicate never takes over the pipelines, notebooks and ingestions that name
    the first. Only documents the user may View are found, unless ``unrestricted``
    (system work that checks its own permission first). None when there is none.
    """
    catalog = aq_get(context, "portal_catalog", None, 1)
    if catalog is None or not isinstance(reference, str) or not reference:
        return None
    query: dict[str, Any] = {"reference": reference}  # ordered below: oldest, then id
    if portal_type is not None:
        query["portal_type"] = portal_type
    search = catalog.unrestrictedSearchResults if unrestricted else catalog.searchResults
    brains = list(search(**query))
    if not brains:
        return None
    first = min(brains, key=_age)
    return first._unrestrictedGetObject() if unrestricted else first.getObject()


def _age(brain: Any) -> tuple[float, int, str]:
    """Sort key, oldest first: creation date, then the id (``"9"`` before ``"10"``)."""
    try:
        created = float(getattr(brain, "creation_date", 0.0))  # DateTime or a number
    except (TypeError, ValueError):
        created = 0.0
    ident = str(getattr(brain, "id", "") or "")
    return created, len(ident), ident


class ToolsByAcquisition:
    """Find ``portal_catalog`` and ``portal_types`` by acquisition.

    CMF looks tools up as local utilities, which are only visible once the site
    hook is set (in a request, not in scripts or threads); acquisition needs no hook,
    so indexing and type checks work outside a request too.
    """

    def _getCatalogTool(self):
        return aq_get(self, "portal_catalog", None, 1)

    def getTypeInfo(self):
        """The type information of this object's portal type, or None."""
        types_tool = aq_get(self, "portal_types", None, 1)
        return None if types_tool is None else types_tool.getTypeInfo(self)


class DocumentMixin(ToolsByAcquisition):
    """Properties and ERP5's common accessors, shared by leaf and folderish documents."""

    security = ClassSecurityInfo()

    if TYPE_CHECKING:  # from the CMF content class each document also derives from
        portal_type: str
        def getId(self) -> str: ...
        def getOwnerTuple(self) -> Any: ...
        def reindexObject(self, idxs: Any = ...) -> None: ...

    #: Editable properties and their Python types; subclasses extend it.
    property_types: ClassVar[dict[str, type]] = {
        "title": str,
        "reference": str,
        "description": str,
    }

    #: Property -> validator returning the value to store (raises InvalidInputError).
    property_checks: ClassVar[dict[str, Callable[[Any], Any]]] = {}

    title = ""
    reference = ""
    description = ""
    creation_date: DateTime | None = None
    modification_date: DateTime | None = None

    def _initDocument(self, properties: dict[str, Any]) -> None:
        now = DateTime()
        self.creation_date = now
        self.modification_date = now
        self._setProperties(properties)

    def __init__(self, id: str, **properties: Any) -> None:
        self.id = id
        self._initDocument(properties)

    # -- properties -------------------------------------------------------------
    security.declarePrivate("checkPropertyNames")

    @classmethod
    def checkPropertyNames(cls, properties: dict[str, Any]) -> None:
        """Raise :class:`UnknownPropertyError` naming the first unknown property."""
        for name in properties:
            if name not in cls.property_types:
                known = ", ".join(sorted(cls.property_types))
                raise UnknownPropertyError(
                    f"{cls.portal_type or cls.__name__} has no property {name!r} (known: {known})"
                )

    def _setProperties(self, properties: dict[str, Any]) -> None:
        self.checkPropertyNames(properties)
        converted = {}
        for name, value in properties.items():
            kind = self.property_types[name]
            if value is None:
                value = kind()
            if not isinstance(value, kind):
                raise UnknownPropertyError(
                    f"property {name!r} expects {kind.__name__}, got {value!r}"
                )
            check = self.property_checks.get(name)
            converted[name] = value if check is None else check(value)
        self._checkProperties(converted)
        for name, value in converted.items():
            setattr(self, name, value)

    def _checkProperties(self, properties: dict[str, Any]) -> None:
        """Checks that need the document's place (acquisition), run by every path that sets
        properties before anything changes; subclasses raise a WendelinError."""

    @security.protected(ModifyPortalContent)
    @zpublish(False)
    def edit(self, REQUEST=None, **properties: Any) -> None:
        """Set several properties at once; an unknown one changes nothing."""
        self._setProperties(properties)
        self.reindexObject()

    # -- accessors ----------------------------------------------------------------
    @security.protected(View)
    def getTitle(self) -> str:
        return self.title

    @security.protected(ModifyPortalContent)
    @zpublish(False)
    def setTitle(self, value: str) -> None:
        self.edit(title=value)

    @security.protected(View)
    def getReference(self) -> str:
        return self.reference

    @security.protected(ModifyPortalContent)
    @zpublish(False)
    def setReference(self, value: str) -> None:
        self.edit(reference=value)

    @security.protected(View)
    def getDescription(self) -> str:
        return self.description

    @security.protected(ModifyPortalContent)
    @zpublish(False)
    def setDescription(self, value: str) -> None:
        self.edit(description=value)

    @security.protected(View)
    def getPortalType(self) -> str:
        return self.portal_type

    @security.protected(View)
    def getCreationDate(self) -> DateTime:
        return self.creation_date

    @security.protected(View)
    def getModificationDate(self) -> DateTime:
        return self.modification_date

    @security.protected(View)
    def getCreationTime(self) -> float:
        """Creation date as seconds since the epoch (a number: fast to sort in the catalog)."""
        return self.creation_date.timeTime() if self.creation_date is not None else 0.0

    @security.protected(View)
    def getModificationTime(self) -> float:
        """Modification date as seconds since the epoch (fast to sort in the catalog)."""
        return self.modification_date.timeTime() if self.modification_date is not None else 0.0

    @security.protected(View)
    def getRelativeUrl(self) -> str:
        return relative_url(self)

    @security.protected(View)
    def Creator(self) -> str:
        """The id of the user who created the document (its owner)."""
        owner = self.getOwnerTuple()
        return owner[1] if owner else ""

    @security.protected(View)
    def SearchableText(self) -> str:
        return " ".join(
            part for part in (self.getId(), self.title, self.reference, self.description) if part
        )

    @security.protected(View)
    def getSize(self) -> int:
        """Size in bytes of the document's data (0 for documents without data)."""
        return 0

    @security.protected(View)
    def getPropertyDict(self) -> dict[str, Any]:
        """The editable properties and their values, for views and scripts."""
        return {name: getattr(self, name) for name in self.property_types}

    #: Indexes that change when a document's data changes (not its title or text).
    DATA_INDEXES = ("getSize", "modification_date", "getModificationTime")

    @security.protected(ModifyPortalContent)
    @zpublish(False)
    def reindexData(self) -> None:
        """Reindex after a data write: size and dates only, not the text indexes.

        Cheaper than a full reindex and touches fewer catalog structures, so appends to
        different streams from parallel requests rarely conflict in the catalog.
        """
        self.notifyModified()
        catalog = self._getCatalogTool()
        if catalog is not None:
            known = set(catalog.indexes())
            catalog.reindexObject(self, idxs=[i for i in self.DATA_INDEXES if i in known])

    @security.protected(ModifyPortalContent)
    @zpublish(False)
    def reindexMetadata(self) -> None:
        """Refresh the catalog's metadata (size, dates shown in listings), no index.

        For frequent small writes (ingestion): index sets shared by many documents are
        where parallel transactions conflict; the ``id`` index named here never changes,
        so only this document's metadata record is written. Sorting by size or date uses
        the indexes, refreshed by the next full data reindex.
        """
        self.notifyModified()
        catalog = self._getCatalogTool()
        if catalog is not None:
            catalog.reindexObject(self, idxs=["id"])

    @security.protected(ModifyPortalContent)
    @zpublish(False)
    def notifyModified(self) -> None:
        """Called by CMF on reindex: keep the modification date current."""
        self.modification_date = DateTime()

    def __repr__(self) -> str:
        return f"<{self.portal_type} {self.getId()!r} at {id(aq_base(self)):#x}>"


InitializeClass(DocumentMixin)


class WendelinDocument(DocumentMixin, PortalContent):
    """A catalogued leaf document; its default view comes from its portal type."""

    security = ClassSecurityInfo()
    security.declareObjectProtected(View)


InitializeClass(WendelinDocument)

"""The common base of the pipeline documents (Data Supply, Ingestion, Transformation...).

ERP5's vocabulary: relations (``specialise``, ``causality``, ``resource``, ``aggregate``,
``source``, ``destination``) are stored as relative URLs and read back as documents with
``get<Name>Value()``; a validation state (draft, validated, invalidated) and a simulation
state (draft, planned, started, stopped, delivered) with ERP5's transitions. Relations
and states are catalogued, so the alarm and ``Base_getRelatedObjectList`` find documents
by them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from AccessControl.class_init import InitializeClass
from AccessControl.SecurityInfo import ClassSecurityInfo
from Acquisition import aq_inner
from Products.CMFCore.CMFBTreeFolder import CMFBTreeFolder
from Products.CMFCore.CMFCatalogAware import CMFCatalogAware
from Products.CMFCore.interfaces import IContentish
from zope.interface import implementer
from ZPublisher import zpublish

from ..errors import InvalidInputError, StateConflictError
from ..permissions import ModifyPortalContent, View
from .base import DocumentMixin, WendelinDocument, relative_url
from .container import ContentContainerMixin

#: Relations holding one document, and those holding a list.
SINGLE_RELATIONS = ("causality", "resource", "source", "destination", "source_section",
                    "destination_section")
LIST_RELATIONS = ("specialise", "aggregate")
VALIDATION_STATES = ("draft", "validated", "invalidated")
SIMULATION_STATES = ("draft", "planned", "started", "stopped", "delivered", "cancelled")

#: Every pipeline document's properties (subclasses add their own).
PIPELINE_PROPERTIES: dict[str, type] = {
    **WendelinDocument.property_types,
    **{name: str for name in SINGLE_RELATIONS},
    **{f"{name}_list": list for name in LIST_RELATIONS},
    "int_index": int,
    "quantity": float,
    "quantity_unit": str,
    "use": str,
    "variation_category_list": list,
}


def _url_of(value: Any) -> str:
    """A relation's stored form: a document's relative URL, or the text given."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        return value
    if hasattr(value, "getPhysicalPath"):
        return relative_url(value)
    raise InvalidInputError(f"a relation needs a document or a relative URL, got {value!r}")


def _make_accessors(namespace: dict[str, Any], security: ClassSecurityInfo) -> None:
    """ERP5's relation accessors (``getSpecialiseValue``...), declared View/Modify."""

    def declare(name: str, function: Any, permission: str) -> None:
        function.__name__ = name
        namespace[name] = function
        security.declareProtected(permission, name)

    for name in SINGLE_RELATIONS:
        camel = "".join(part.capitalize() for part in name.split("_"))

        def get(self, _n=name) -> str:
            return getattr(self, _n, "") or ""

        def get_value(self, _n=name) -> Any:
            return self._resolve(getattr(self, _n, ""))

        def set_(self, value: Any, _n=name) -> None:
            self.edit(**{_n: _url_of(value)})

        get.__doc__ = f"The {name} relation as a relative URL."
        get_value.__doc__ = f"The {name} document, or None."
        set_.__doc__ = f"Set the {name} relation (a document or a relative URL)."
        declare(f"get{camel}", get, View)
        declare(f"get{camel}Value", get_value, View)
        declare(f"set{camel}", set_, ModifyPortalContent)
        declare(f"set{camel}Value", set_, ModifyPortalContent)

    for name in LIST_RELATIONS:
        camel = name.capitalize()
        key = f"{name}_list"

        def get_list(self, _k=key) -> list[str]:
            return list(getattr(self, _k, ()) or ())

        def get_value_list(self, portal_type: Any = None, _k=key) -> list[Any]:
            found = [self._resolve(url) for url in getattr(self, _k, ()) or ()]
            found = [doc for doc in found if doc is not None]
            if portal_type:
                types = (portal_type,) if isinstance(portal_type, str) else tuple(portal_type)
                found = [doc for doc in found if doc.getPortalType() in types]
            return found

        def get_first(self, portal_type: Any = None, _k=key, _n=name) -> Any:
            found = getattr(self, f"get{_n.capitalize()}ValueList")(portal_type)
            return found[0] if found else None

        def get_url(self, _k=key) -> str:
            items = getattr(self, _k, ()) or ()
            return items[0] if items else ""

        def set_list(self, values: Any, _k=key) -> None:
            self.edit(**{_k: [_url_of(v) for v in (values or ()) if _url_of(v)]})

        def set_one(self, value: Any, _k=key) -> None:
            self.edit(**{_k: [_url_of(value)] if _url_of(value) else []})

        get_list.__doc__ = f"The {name} relations as relative URLs."
        get_value_list.__doc__ = f"The {name} documents (optionally of some portal types)."
        get_first.__doc__ = f"The first {name} document, or None."
        get_url.__doc__ = f"The first {name} relation as a relative URL."
        set_list.__doc__ = f"Set the {name} relations (documents or relative URLs)."
        set_one.__doc__ = f"Set one {name} relation."
        declare(f"get{camel}List", get_list, View)
        declare(f"get{camel}ValueList", get_value_list, View)
        declare(f"get{camel}Value", get_first, View)
        declare(f"get{camel}", get_url, View)
        declare(f"set{camel}List", set_list, ModifyPortalContent)
        declare(f"set{camel}ValueList", set_list, ModifyPortalContent)
        declare(f"set{camel}Value", set_one, ModifyPortalContent)
        declare(f"set{camel}", set_one, ModifyPortalContent)


class PipelineMixin:
    """Relations, states and ERP5 accessors of the pipeline documents."""

    security = ClassSecurityInfo()

    if TYPE_CHECKING:  # from the document classes each pipeline document also derives from
        def getId(self) -> str: ...
        def getPortalType(self) -> str: ...
        def reindexObject(self, idxs: Any = ...) -> None: ...
        def _getCatalogTool(self) -> Any: ...
    property_types: ClassVar[dict[str, type]] = dict(PIPELINE_PROPERTIES)
    #: Whether documents of the type have a simulation state (ingestions, analyses).
    has_simulation_state = False

    validation_state = "draft"
    simulation_state = "draft"
    causality = resource = source = destination = source_section = destination_section = ""
    specialise_list: tuple = ()
    aggregate_list: tuple = ()
    variation_category_list: tuple = ()
    int_index = 0
    quantity = 0.0
    quantity_unit = ""
    use = ""

    _make_accessors(locals(), security)

    def _setProperties(self, properties: dict[str, Any]) -> None:
        """Accept ERP5's ``<relation>_value`` and ``<relation>_value_list`` spellings too."""
        converted: dict[str, Any] = {}
        for name, value in properties.items():
            if name.endswith("_value_list"):
                base = name[: -len("_value_list")]
                name, value = f"{base}_list", [_url_of(v) for v in value or ()]
            elif name.endswith("_value"):
                base = name[: -len("_value")]
                if base in LIST_RELATIONS:
                    name, value = f"{base}_list", [_url_of(value)] if value else []
                else:
                    name, value = base, _url_of(value)
            elif name in SINGLE_RELATIONS:
                value = _url_of(value)
            elif name in LIST_RELATIONS:  # ERP5's aggregate=... for a one-item list
                name, value = f"{name}_list", [_url_of(value)] if value else []
            elif isinstance(value, tuple):
                value = list(value)
            if name == "quantity" and isinstance(value, int):
                value = float(value)
            converted[name] = value
        super()._setProperties(converted)  # type: ignore[misc]  # DocumentMixin's, by the MRO

    def _resolve(self, url: str) -> Any:
        """The document at a relative URL below the portal, or None."""
        if not url:
            return None
        portal = aq_inner(self).getPortalObject()
        try:
            return portal.unrestrictedTraverse(url)
        except (KeyError, AttributeError, LookupError, TypeError):
            return None

    # -- states ---------------------------------------------------------------------------
    @security.protected(View)
    def getValidationState(self) -> str:
        """draft, validated or invalidated."""
        return self.validation_state

    @security.protected(View)
    def getSimulationState(self) -> str:
        """draft, planned, started, stopped, delivered or cancelled."""
        return self.simulation_state

    def _change_state(self, attribute: str, new: str, allowed_from: tuple[str, ...]) -> None:
        current = getattr(self, attribute)
        if current == new:
            return
        if current not in allowed_from:
            raise StateConflictError(
                f"{self.getPortalType()} {self.getId()!r} cannot go from {current} to {new}")
        setattr(self, attribute, new)
        self.reindexObject()

    @security.protected(ModifyPortalContent)
    @zpublish(False)
    def validate(self) -> None:
        """Validation workflow: draft or invalidated -> validated."""
        self._change_state("validation_state", "validated", ("draft", "invalidated"))

    @security.protected(ModifyPortalContent)
    @zpublish(False)
    def invalidate(self) -> None:
        """Validation workflow: validated -> invalidated."""
        self._change_state("validation_state", "invalidated", ("draft", "validated"))

    @security.protected(ModifyPortalContent)
    @zpublish(False)
    def plan(self) -> None:
        """Simulation workflow: draft -> planned."""
        self._change_state("simulation_state", "planned", ("draft",))

    @security.protected(ModifyPortalContent)
    @zpublish(False)
    def start(self) -> None:
        """Simulation workflow: draft or planned -> started."""
        self._change_state("simulation_state", "started", ("draft", "planned"))

    @security.protected(ModifyPortalContent)
    @zpublish(False)
    def stop(self) -> None:
        """Simulation workflow: started -> stopped."""
        self._change_state("simulation_state", "stopped", ("started",))

    @security.protected(ModifyPortalContent)
    @zpublish(False)
    def deliver(self) -> None:
        """Simulation workflow: stopped -> delivered."""
        self._change_state("simulation_state", "delivered", ("stopped",))

    # -- relations found through the catalog --------------------------------------------------
    @security.protected(View)
    def Base_getRelatedObjectList(self, portal_type: Any = None, **kw: Any) -> list[Any]:
        """Documents whose relations (specialise, causality, aggregate, resource) name this one."""
        url = relative_url(self)
        catalog = self._getCatalogTool()
        query: dict[str, Any] = {} if portal_type is None else {"portal_type": portal_type}
        found: dict[str, Any] = {}
        for index in ("getSpecialiseList", "getCausality", "getAggregateList", "getResource"):
            for brain in catalog(**{index: url}, **query):
                document = brain.getObject()
                found.setdefault(relative_url(document), document)
        return [found[key] for key in sorted(found, key=_natural)]

    # -- activities ---------------------------------------------------------------------
    security.declarePrivate("activate")

    def activate(self, **options: Any) -> Any:
        """ERP5's ``document.activate(**options).method(*args)`` (trusted code)."""
        from .base import activate

        return activate(self, **options)

    # -- the page -------------------------------------------------------------------------
    @security.protected(View)
    def getPipelineInfo(self) -> dict[str, Any]:
        """What the document's page shows: states, relations as links, lines."""
        portal_url = aq_inner(self).getPortalObject().absolute_url()

        def link(url: str) -> dict[str, str]:
            document = self._resolve(url)
            if document is None:
                return {"path": url, "title": url, "url": f"{portal_url}/{url}/view"}
            title = document.getTitle() or document.getReference() or document.getId()
            return {"path": url, "title": title, "url": f"{portal_url}/{url}/view"}

        relations = []
        for name in SINGLE_RELATIONS:
            if getattr(self, name, ""):
                relations.append({"name": name, "links": [link(getattr(self, name))]})
        for name in LIST_RELATIONS:
            items = getattr(self, f"{name}_list", ()) or ()
            if items:
                relations.append({"name": name, "links": [link(url) for url in items]})
        lines = []
        contents = getattr(self, "objectValues", None)
        for line in (contents() if callable(contents) else []):
            lines.append({
                "id": line.getId(),
                "url": line.absolute_url() + "/view",
                "portal_type": line.getPortalType(),
                "title": line.getTitle(),
                "reference": line.getReference(),
                "resource": link(line.resource) if getattr(line, "resource", "") else None,
                "aggregates": [link(url) for url in getattr(line, "aggregate_list", ()) or ()],
                "extra": line.getExtraInfo() if hasattr(line, "getExtraInfo") else "",
            })
        return {
            "validation_state": self.validation_state,
            "simulation_state": self.simulation_state if self.has_simulation_state else "",
            "relations": relations,
            "lines": lines,
            "extra": self.getExtraInfo(),
        }

    @security.protected(View)
    def getExtraInfo(self) -> str:
        """A short type-specific fact for pages (overridden by some types)."""
        return ""


InitializeClass(PipelineMixin)


def _natural(path: str) -> tuple:
    return tuple((0, int(part), "") if part.isdigit() else (1, 0, part)
                 for part in path.split("/"))


class PipelineDocument(PipelineMixin, WendelinDocument):
    """A leaf pipeline document (lines, Data Product, Progress Indicator)."""

    security = ClassSecurityInfo()
    security.declareObjectProtected(View)


InitializeClass(PipelineDocument)


@implementer(IContentish)
class PipelineFolder(PipelineMixin, DocumentMixin, ContentContainerMixin, CMFCatalogAware,
                     CMFBTreeFolder):
    """A pipeline document holding lines (Data Supply, Ingestion, Transformation, Analysis)."""

    security = ClassSecurityInfo()
    security.declareObjectProtected(View)

    def __init__(self, id: str, **properties: Any) -> None:
        CMFBTreeFolder.__init__(self, id)
        self._initDocument(properties)

    _getCatalogTool = DocumentMixin._getCatalogTool
    manage_options = CMFBTreeFolder.manage_options

    @security.protected(View)
    def getLineList(self, reference: str | None = None,
                    portal_type: Any = None) -> list[Any]:
        """The lines, by ``int_index`` then id (optionally one reference or portal type)."""
        lines = list(self.objectValues())
        if reference is not None:
            lines = [line for line in lines if line.getReference() == reference]
        if portal_type:
            types = (portal_type,) if isinstance(portal_type, str) else tuple(portal_type)
            lines = [line for line in lines if line.getPortalType() in types]
        return sorted(lines, key=lambda line: (getattr(line, "int_index", 0),
                                               _natural(line.getId())))


InitializeClass(PipelineFolder)

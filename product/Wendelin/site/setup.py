"""Create the portal and re-apply business templates to it, idempotently.

``ensure_site`` is what a starting server calls: it creates ``/erp5`` when missing
and upgrades it when the templates changed. Upgrading adds and replaces
definitions (tools, roles, types, skins, indexes, modules) and never removes documents.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from Acquisition import aq_base
from Products.CMFCore.DirectoryView import createDirectoryView
from Products.CMFCore.interfaces import ICatalogTool, ISkinsTool, ITypesTool
from Products.CMFCore.SkinsTool import SkinsTool
from Products.CMFCore.TypesTool import FactoryTypeInformation, TypesTool
from Products.ZCTextIndex.Lexicon import CaseNormalizer, Splitter, StopWordRemover
from Products.ZCTextIndex.ZCTextIndex import PLexicon
from zope.component import getGlobalSiteManager
from zope.component.hooks import setSite

from ..cmfprivate import set_portal_type
from ..permissions import PORTAL_ROLES, ROLE_MAP
from .business_template import BusinessTemplate, load_templates, templates_digest
from .catalog import WendelinCatalogTool, tune_for_concurrency
from .module import DataModule
from .portal import WendelinSite
from .users import install_user_folder

logger = logging.getLogger("Wendelin.setup")

SITE_ID = "erp5"
SKIN_NAME = "Wendelin"


def ensure_site(app: Any, site_id: str = SITE_ID) -> WendelinSite:
    """Return the portal, creating it or upgrading it when its templates changed."""
    site = getattr(aq_base(app), site_id, None)
    if site is None:
        app._setObject(site_id, WendelinSite(site_id, title="Wendelin"))
        logger.info("created site /%s", site_id)
    site = app._getOb(site_id)
    upgrade_site(site)
    return site


def upgrade_site(site: WendelinSite, force: bool = False) -> bool:
    """Re-apply the business templates; returns whether anything was applied."""
    templates = load_templates()
    # The applying code is hashed too: a changed setup re-applies on the next start.
    digest = templates_digest(templates, Path(__file__).read_bytes())
    if not force and site._business_template_digest == digest:
        setSite(site)
        return False
    _setup_components(site)
    setSite(site)
    _setup_security(site)
    for template in templates:
        _apply_template(site, template)
    _setup_skin_selection(site, templates)
    for template in templates:
        _create_documents(site, template)
    site._module_ids = tuple(module.id for t in templates for module in t.modules)
    site._business_template_digest = digest
    logger.info("applied business templates %s", ", ".join(t.name for t in templates))
    return True


def _setup_components(site: WendelinSite) -> None:
    """Tools exist and are registered as local utilities; the site manager sees globals."""
    components = site.getSiteManager()
    if getGlobalSiteManager() not in components.__bases__:
        components.__bases__ = (getGlobalSiteManager(),)
    for tool_id, factory, interface in (
        ("portal_types", TypesTool, ITypesTool),
        ("portal_skins", SkinsTool, ISkinsTool),
        ("portal_catalog", WendelinCatalogTool, ICatalogTool),
    ):
        if tool_id not in site.objectIds():
            site._setObject(tool_id, factory())
        components.registerUtility(aq_base(site._getOb(tool_id)), interface)
    # Standard users plus browser sessions; a plain UserFolder is replaced, users kept.
    install_user_folder(site)


def _setup_security(site: WendelinSite) -> None:
    for role in PORTAL_ROLES:
        if role not in site.valid_roles():
            site._addRole(role)
    for permission, roles in ROLE_MAP.items():
        site.manage_permission(permission, list(roles), acquire=0)


def _apply_template(site: WendelinSite, template: BusinessTemplate) -> None:
    types_tool = site.portal_types
    for info in template.portal_types:
        type_id = info["id"]
        if type_id in types_tool.objectIds():
            types_tool._delObject(type_id)
        types_tool._setObject(type_id, FactoryTypeInformation(**info))
    skins = site.portal_skins
    for folder_id, _path, reg_key in template.skin_folders:
        current = skins._getOb(folder_id, None)
        if current is not None and getattr(current, "_dirpath", None) != reg_key:
            skins._delObject(folder_id)
            current = None
        if current is None:
            createDirectoryView(skins, reg_key, folder_id)
    if template.catalog:
        _setup_catalog(site.portal_catalog, template.catalog)
    for module in template.modules + template.tools:
        if module.id not in site.objectIds():
            folder = DataModule(module.id, title=module.title)
            set_portal_type(folder, module.portal_type)
            site._setObject(module.id, folder)
        else:
            existing = site._getOb(module.id)
            set_portal_type(existing, module.portal_type)
            existing.title = module.title


def _create_documents(site: WendelinSite, template: BusinessTemplate) -> None:
    """Create the template's documents missing from their module (found by reference)."""
    from AccessControl.SecurityManagement import (
        getSecurityManager,
        newSecurityManager,
        setSecurityManager,
    )
    from AccessControl.SpecialUsers import system

    if not template.documents:
        return
    previous = getSecurityManager()
    newSecurityManager(None, system)
    try:
        for entry in template.documents:
            module = site._getOb(entry["module"])
            skip = ("module", "portal_type", "ipynb_file")
            properties = {k: v for k, v in entry.items() if k not in skip}
            found = site.portal_catalog.unrestrictedSearchResults(
                portal_type=entry["portal_type"], reference=entry["reference"]
            )
            if not found:
                document = module.newContent(portal_type=entry["portal_type"], **properties)
                if "ipynb_file" in entry:  # a shipped notebook's content
                    document.setIpynb(json.loads((template.path / entry["ipynb_file"]).read_text()))
    finally:
        setSecurityManager(previous)


def _setup_catalog(catalog: WendelinCatalogTool, spec: dict[str, Any]) -> None:
    """Add missing lexicon, indexes and columns; new indexes are filled from the catalog."""
    if "lexicon" not in catalog.objectIds():
        catalog._setObject(
            "lexicon", PLexicon("lexicon", "", Splitter(), CaseNormalizer(), StopWordRemover())
        )
    added = []
    for name, kind in spec.get("indexes", {}).items():
        if name in catalog.indexes():
            continue
        if kind == "ZCTextIndex":
            extra = _Record(
                doc_attr=name, index_type="Okapi BM25 Rank", lexicon_id="lexicon"
            )
            catalog.addIndex(name, kind, extra)
        else:
            catalog.addIndex(name, kind)
        added.append(name)
    for column in spec.get("columns", []):
        if column not in catalog.schema():
            catalog.addColumn(column)
    if added and len(catalog):
        catalog.manage_reindexIndex(ids=added)
    tune_for_concurrency(catalog)  # parallel commits sharing words merge


class _Record:
    """The attribute bag ZCatalog's ``addIndex`` expects for index options."""

    def __init__(self, **kw: Any) -> None:
        self.__dict__.update(kw)


def _setup_skin_selection(site: WendelinSite, templates: list[BusinessTemplate]) -> None:
    """One selection with later templates' folders first, so they override earlier ones."""
    layers: list[str] = []
    for template in reversed(templates):
        layers.extend(folder_id for folder_id, _path, _key in template.skin_folders)
    site.portal_skins.addSkinSelection(SKIN_NAME, ",".join(layers), make_default=1)
    site.clearCurrentSkin()

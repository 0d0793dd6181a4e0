"""The portal: tools, roles, modules, types, skins, and idempotent upgrades."""

import transaction
from Acquisition import aq_base
from Products.CMFCore.interfaces import ICatalogTool, ISkinsTool, ITypesTool
from Products.Wendelin.permissions import ROLE_MAP, ExecuteNotebookCode, View
from Products.Wendelin.site.setup import upgrade_site
from zope.component import getUtility

DOCUMENT_TYPES = (
    "Data Stream", "Data Array", "Data Notebook", "Data Notebook Line", "Data Operation", "Image",
)


def test_portal_has_tools_as_local_utilities(portal):
    for interface, tool_id in (
        (ICatalogTool, "portal_catalog"),
        (ISkinsTool, "portal_skins"),
        (ITypesTool, "portal_types"),
    ):
        assert aq_base(getUtility(interface)) is aq_base(portal._getOb(tool_id))


def test_roles_and_role_map(portal):
    for role in ("Manager", "Author", "Auditor", "Developer"):
        assert role in portal.valid_roles()
    for permission, roles in ROLE_MAP.items():
        granted = {r["name"] for r in portal.rolesOfPermission(permission) if r["selected"]}
        assert granted == set(roles), permission
    viewers = {r["name"] for r in portal.rolesOfPermission(View) if r["selected"]}
    assert "Anonymous" not in viewers
    runners = {r["name"] for r in portal.rolesOfPermission(ExecuteNotebookCode) if r["selected"]}
    assert runners == {"Manager", "Developer"}


PIPELINE_MODULES = {
    "data_product_module": "Data Product",
    "data_supply_module": "Data Supply",
    "data_ingestion_module": "Data Ingestion",
    "data_transformation_module": "Data Transformation",
    "data_analysis_module": "Data Analysis",
    "progress_indicator_module": "Progress Indicator",
}


def test_modules_are_btree_folders_with_their_types(portal):
    expected = {
        "data_stream_module": "Data Stream",
        "data_array_module": "Data Array",
        "data_notebook_module": "Data Notebook",
        "data_operation_module": "Data Operation",
        "image_module": "Image",
    }
    assert [m.getId() for m in portal.getModuleList()] == [*expected, *PIPELINE_MODULES]
    for module_id, portal_type in {**expected, **PIPELINE_MODULES}.items():
        module = portal[module_id]
        assert hasattr(aq_base(module), "_tree"), "modules must be BTree folders"
        allowed = module.getAllowedPortalTypeList()
        assert allowed == [portal_type] if module_id in expected else portal_type in allowed


def test_portal_types_come_from_business_template_files(portal):
    types = portal.portal_types
    for type_id in DOCUMENT_TYPES:
        fti = types.getTypeInfo(type_id)
        assert fti is not None, type_id
        assert fti.factory.startswith("wendelin.")
    assert types.getTypeInfo("Data Notebook").allowed_content_types == ("Data Notebook Line",)


def test_upgrade_is_idempotent_and_keeps_documents(portal):
    stream = portal.data_stream_module.newContent(title="kept", reference="upgrade-kept")
    transaction.commit()
    count = len(portal.portal_catalog)
    # Break the site the way an old version might have left it.
    portal.portal_types._delObject("Image")
    portal._delObject("image_module")
    portal.portal_catalog.delIndex("reference")
    assert upgrade_site(portal, force=True) is True
    transaction.commit()
    assert "image_module" in portal.objectIds()
    assert portal.portal_types.getTypeInfo("Image") is not None
    assert portal.data_stream_module[stream.getId()].getTitle() == "kept"
    # The re-added index was filled from the existing catalog entries.
    assert len(portal.portal_catalog) == count
    assert [b.getObject().getTitle() for b in portal.portal_catalog(reference="upgrade-kept")] == [
        "kept"
    ]
    # Nothing changed on disk: a normal start does not re-apply.
    assert upgrade_site(portal) is False


def test_skin_selection_holds_the_template_folders(portal):
    skins = portal.portal_skins
    assert skins.getDefaultSkin() == "Wendelin"
    assert "erp5_wendelin_core" in skins.getSkinPath("Wendelin").split(",")
    assert skins.erp5_wendelin_core._dirpath.startswith("Products.Wendelin:bt5/")

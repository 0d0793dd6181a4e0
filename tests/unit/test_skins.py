"""Filesystem skins: registered at product start, found by acquisition, bound to context."""

from Products.CMFCore.DirectoryView import _dirreg
from Products.CMFCore.FSPythonScript import FSPythonScript
from Products.Wendelin import register_skin_directories


def test_skin_folders_registered_at_product_start(zope_settings):
    keys = register_skin_directories()
    assert keys, "the core template ships a skin folder"
    for key in keys:
        assert _dirreg.getDirectoryInfo(key) is not None


def test_script_found_by_acquisition_with_context_bound(portal):
    stream = portal.data_stream_module.newContent(title="s")
    script = stream.DataStream_getSize
    assert isinstance(script.aq_base, FSPythonScript)
    assert stream.DataStream_getSize() == stream.getSize() == 0


def test_module_list_script_counts_documents(portal):
    module = portal.data_notebook_module
    before = {m["id"]: m["count"] for m in portal.ERP5Site_getModuleInfoList()}
    module.newContent(title="n")
    after = {m["id"]: m["count"] for m in portal.ERP5Site_getModuleInfoList()}
    assert after["data_notebook_module"] == before["data_notebook_module"] + 1
    assert set(after) == {
        "data_stream_module", "data_array_module", "data_notebook_module",
        "data_operation_module", "image_module", "data_product_module", "data_supply_module",
        "data_ingestion_module", "data_transformation_module", "data_analysis_module",
        "progress_indicator_module",
    }


def test_views_render_and_escape(portal):
    doc = portal.image_module.newContent(title="<script>alert(1)</script>", reference="v")
    html = doc.Base_view()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script>alert(1)" not in html
    listing = portal.image_module.Module_view()
    assert "&lt;script&gt;" in listing and "<script>alert" not in listing

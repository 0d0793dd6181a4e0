import json

import pytest
from Products.Wendelin.errors import BusinessTemplateError
from Products.Wendelin.site.business_template import (
    load_template,
    load_templates,
    templates_digest,
)


def test_shipped_templates_define_the_modules_and_types():
    templates = load_templates()
    modules = [m.id for t in templates for m in t.modules]
    assert modules == [
        "data_stream_module",
        "data_array_module",
        "data_notebook_module",
        "data_operation_module",
        "image_module",
        # erp5_wendelin_data: ERP5's processing model
        "data_product_module",
        "data_supply_module",
        "data_ingestion_module",
        "data_transformation_module",
        "data_analysis_module",
        "progress_indicator_module",
    ]
    types = {info["id"] for t in templates for info in t.portal_types}
    assert {
        "Data Stream", "Data Array", "Data Notebook", "Data Notebook Line",
        "Data Operation", "Image",
    } <= types


def _template(tmp_path, bt=None, types=None):
    path = tmp_path / "erp5_test"
    (path / "portal_types").mkdir(parents=True)
    (path / "bt.json").write_text(json.dumps(bt if bt is not None else {"title": "t"}))
    for name, info in (types or {}).items():
        (path / "portal_types" / f"{name}.json").write_text(json.dumps(info))
    return path


def test_type_without_factory_is_rejected_with_its_file(tmp_path):
    path = _template(tmp_path, types={"Broken": {"id": "Broken", "content_meta_type": "x"}})
    with pytest.raises(BusinessTemplateError, match="Broken.json.*factory"):
        load_template(path)


def test_malformed_json_is_a_clear_error(tmp_path):
    path = _template(tmp_path)
    (path / "bt.json").write_text("{not json")
    with pytest.raises(BusinessTemplateError, match="bt.json"):
        load_template(path)


def test_bt5list_naming_a_missing_template(tmp_path):
    (tmp_path / "bt5list").write_text("erp5_nowhere\n")
    with pytest.raises(BusinessTemplateError, match="erp5_nowhere"):
        load_templates(tmp_path)


def test_digest_changes_with_content(tmp_path):
    path = _template(tmp_path)
    (tmp_path / "bt5list").write_text("erp5_test\n")
    before = templates_digest(load_templates(tmp_path))
    (path / "bt.json").write_text(json.dumps({"title": "changed"}))
    assert templates_digest(load_templates(tmp_path)) != before

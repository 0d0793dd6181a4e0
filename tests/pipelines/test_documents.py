"""The pipeline documents: ERP5's modules, relations, states, catalog, pages and roles."""

from __future__ import annotations

import json

import pytest

MODULES = ("data_product_module", "data_supply_module", "data_ingestion_module",
           "data_transformation_module", "data_analysis_module")

BUILD = """
prod = portal.data_product_module.newContent(reference='doc-p', title='Doc product')
sup = portal.data_supply_module.newContent(reference='doc-s', title='Doc supply')
sup.newContent(portal_type='Data Supply Line', reference='out_stream', resource_value=prod)
stream = portal.data_stream_module.newContent(reference='doc-stream')
ing = portal.data_ingestion_module.newContent(reference='doc-i', title='Doc ingestion',
                                              specialise_value=sup)
ing.newContent(portal_type='Data Ingestion Line', reference='out_stream',
               resource=prod.getRelativeUrl(), aggregate_value_list=[stream])
ing.start()
"""
FIND = ("ing = portal.portal_catalog.getResultValue(portal_type='Data Ingestion', "
        "reference='doc-i')\n"
        "sup = portal.portal_catalog.getResultValue(portal_type='Data Supply', "
        "reference='doc-s')\n")


@pytest.fixture(scope="module")
def built(portal):
    portal.run(BUILD)
    return portal


def test_modules_exist_and_list_their_documents(built, ui):
    """Every pipeline module is on the start page and lists its documents from the catalog."""
    browser = ui.login()
    start = browser.get(ui.url)
    for module in MODULES:
        assert f"{ui.url}/{module}" in start.text
    listing = browser.get(f"{ui.url}/data_supply_module/view")
    assert listing.status_code == 200 and "Doc supply" in listing.text


def test_relations_states_and_the_catalog_follow_erp5(built):
    """getSpecialiseValue() is the supply, the out_stream line aggregates the stream, the
    started ingestion is found by state and the supply finds it as a related document."""
    assert built.value("ing.getSpecialiseValue().getRelativeUrl() == sup.getRelativeUrl()",
                       FIND)
    assert built.value("ing.getOutStreamValue().getReference()", FIND) == "doc-stream"
    assert built.value("[d.getReference() for d in "
                       "sup.Base_getRelatedObjectList(portal_type='Data Ingestion')]",
                       FIND) == ["doc-i"]
    assert "doc-i" in built.value(
        "[b.getObject().getReference() for b in portal.portal_catalog("
        "portal_type='Data Ingestion', simulation_state='started')]")
    reply = built.run(FIND + "ing.deliver()", expect_ok=False)
    assert reply["ename"] == "StateConflictError"
    assert built.value("ing.getSimulationState()", FIND) == "started"


def test_pages_show_states_relations_and_lines(built, ui):
    """An ingestion's page shows its state, its supply and the line's Data Stream."""
    browser = ui.login()
    url = built.value("ing.absolute_url()", FIND)
    page = browser.get(f"{url}/view")
    assert page.status_code == 200
    assert "started" in page.text and "Doc supply" in page.text and "doc-stream" in page.text
    assert "out_stream" in page.text


def test_authors_create_auditors_only_read(built, ui):
    """As for the other modules: an Author creates documents, an Auditor reads and may not."""
    server = built.server
    author = server.add_user("pipe-author", ["Author"])
    auditor = server.add_user("pipe-auditor", ["Auditor"])
    made = author.post(f"{server.url}/data_transformation_module/newContentFromJSON",
                       data=json.dumps({"title": "By author", "reference": "by-author"}),
                       headers={"Content-Type": "application/json"})
    assert made.status_code == 201, made.text
    assert auditor.get(f"{made.json()['url']}/view").status_code == 200
    refused = auditor.post(f"{server.url}/data_transformation_module/newContentFromJSON",
                           data=json.dumps({"title": "By auditor"}),
                           headers={"Content-Type": "application/json"})
    assert refused.status_code in (401, 403)

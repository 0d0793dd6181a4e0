"""``portal_catalog``: indexing life cycle, strict queries, permission filtering."""

import pytest
import transaction
import Zope2
from AccessControl.SecurityManagement import newSecurityManager, noSecurityManager
from Products.Wendelin.errors import CatalogQueryError
from zope.component.hooks import getSite, setSite


def test_indexed_on_creation_reindexed_on_edit_unindexed_on_delete(portal):
    catalog = portal.portal_catalog
    document = portal.data_array_module.newContent(title="Spectrum", reference="cat-life")
    brains = catalog(reference="cat-life")
    assert [b.getObject().getTitle() for b in brains] == ["Spectrum"]
    assert brains[0].getPath() == "/".join(document.getPhysicalPath())
    assert brains[0].getURL() == document.absolute_url()
    document.edit(reference="cat-life-2", title="Renamed")
    assert len(catalog(reference="cat-life")) == 0
    assert catalog(reference="cat-life-2")[0].title == "Renamed"
    portal.data_array_module.manage_delObjects([document.getId()])
    assert len(catalog(reference="cat-life-2")) == 0


def test_indexing_works_outside_a_request_without_site_hook(zope_settings):
    """A script or thread with no site set must still index (CMF's known pitfall)."""
    app = Zope2.app()
    try:
        setSite(None)
        assert getSite() is None
        newSecurityManager(None, app.acl_users.getUser("zope").__of__(app.acl_users))
        app.erp5.data_stream_module.newContent(reference="no-hook", title="outside")
        transaction.commit()
        assert app.erp5.portal_catalog.getResultValue(reference="no-hook").getTitle() == "outside"
    finally:
        noSecurityManager()
        transaction.abort()
        app._p_jar.close()


def test_query_by_each_index(portal):
    doc = portal.image_module.newContent(
        title="Waveform of tones", reference="cat-idx", description="stereo recording"
    )
    catalog = portal.portal_catalog
    path = "/".join(doc.getPhysicalPath())
    for query in (
        {"id": doc.getId(), "reference": "cat-idx"},
        {"portal_type": "Image", "reference": "cat-idx"},
        {"title": "Waveform of tones"},
        {"SearchableText": "stereo"},
        {"SearchableText": "cat-idx"},
        {"Creator": "zope", "reference": "cat-idx"},
        {"path": path},
        {"creation_date": {"query": doc.getCreationDate(), "range": "min"}, "reference": "cat-idx"},
        {"modification_date": {"query": doc.getModificationDate(), "range": "min"},
         "reference": "cat-idx"},
    ):
        paths = [b.getPath() for b in catalog(**query)]
        assert path in paths, query


def test_unknown_query_key_is_an_error_not_a_match_all(portal):
    with pytest.raises(CatalogQueryError, match="'colour'"):
        portal.portal_catalog(colour="red")
    with pytest.raises(CatalogQueryError, match="'size_on_disk'"):
        portal.portal_catalog(sort_on="size_on_disk")


def test_sort_and_limit(portal):
    module = portal.data_operation_module
    for title in ("b-sort", "a-sort", "c-sort"):
        module.newContent(title=title, reference="cat-sort")
    catalog = portal.portal_catalog
    titles = [b.title for b in catalog(reference="cat-sort", sort_on="title")]
    assert titles == ["a-sort", "b-sort", "c-sort"]
    titles = [
        b.title for b in catalog(reference="cat-sort", sort_on="title", sort_order="descending")
    ]
    assert titles == ["c-sort", "b-sort", "a-sort"]
    assert len(catalog(reference="cat-sort", sort_on="title", limit=2)) == 2
    with pytest.raises(CatalogQueryError):
        catalog(reference="cat-sort", limit="many")


def test_get_result_value(portal):
    assert portal.portal_catalog.getResultValue(reference="no-such-reference") is None
    doc = portal.data_stream_module.newContent(reference="cat-one")
    assert portal.portal_catalog.getResultValue(reference="cat-one").getId() == doc.getId()


def test_results_are_filtered_by_permission(portal, site_users, login):
    portal.data_stream_module.newContent(reference="cat-secret")
    login("auditor")
    assert len(portal.portal_catalog(reference="cat-secret")) == 1
    login("nobody")
    assert len(portal.portal_catalog(reference="cat-secret")) == 0

"""Regression tests for what an outside attack on a fresh clone found after the first
hardening round (one test per finding, each asserting the answer and that nothing changed)."""

from __future__ import annotations

import json

import pytest
from security_conftest import TALLY, describe_change, msgpack_entries

ROLES_WITHOUT_VIEW = ("anonymous", "nobody")


def _status(site, role, method, url, **kw) -> int:
    return site.request(site.basic(role), method, url, **kw).status_code


def test_an_author_cannot_make_a_pipeline_run_a_zmi_method(site, targets):
    """Finding 1: a Data Operation naming manage_addLocalRoles ran unrestricted."""
    before = site.snapshot()
    evil = site.create("data_operation_module", role="author", title="evil",
                       script_id="manage_addLocalRoles",
                       parameter_dict={"userid": "sec_auditor", "roles": ["Manager"]})
    reply = site.run(
        "from Products.Wendelin.document.scripts import run_skin_script\n"
        "from Products.Wendelin.errors import InvalidInputError\n"
        f"op = context.restrictedTraverse('data_operation_module/{evil['id']}')\n"
        "s = context.portal_catalog.getResultValue(reference='sec-target.wav')\n"
        "try:\n"
        "    run_skin_script(s, op.getScriptId(), **op.getParameterDict())\n"
        "    print('ran')\n"
        "except InvalidInputError as e:\n"
        "    print('refused', e)\n"
    )
    assert reply.startswith("refused") and "not a skin script" in reply
    for name in ("manage_addLocalRoles", "manage_delObjects", "reindexObject", "_setObject"):
        answer = site.request(site.basic("author"), "POST",
                              f"{targets['csv']}/DataStream_transform",
                              data={"transform_script_id": name})
        assert answer.status_code == 400, (name, answer.status_code, answer.text[:200])
    after = site.snapshot()
    changed = describe_change(before, after)
    assert "sec_auditor" not in json.dumps(after.get("users", {})) or "Manager" not in changed


def test_an_auditor_cannot_queue_analyses(site):
    """Finding 2: ERP5Site_executeDataAnalysisList queued activities for an Auditor."""
    for script in ("ERP5Site_executeDataAnalysisList", "ERP5Site_createDataAnalysisList"):
        before = site.snapshot()
        status = _status(site, "auditor", "POST", f"{site.url}/{script}")
        assert status in (401, 403), (script, status)
        assert site.snapshot() == before


@pytest.mark.parametrize("path", [
    "DataStream_getSize",                       # a Data Stream script on the portal
    "acl_users/main_template",                  # a macro template is not a page
    "data_array_module/{array_id}/DataStream_viewWaveform",
    "data_stream_module/{stream_id}/DataArray_viewPlot",
    "data_array_module/{array_id}/DataStream_getAudioInfo",
    "image_module/DataStreamModule_upload",
])
def test_skin_scripts_run_only_on_their_portal_type(site, targets, path):
    """Finding 3a: scripts on the wrong kind of object were 500s."""
    url = f"{site.url}/" + path.format(**targets)
    for role in ("auditor", "manager"):
        answer = site.request(site.basic(role), "GET", url)
        assert answer.status_code == 404, (role, url, answer.status_code, answer.text[:200])


def test_frequency_list_by_url_is_text(site, targets):
    """Finding 3b: an ndarray result could not be published (500)."""
    spectrum = site.run(
        "import numpy as np\n"
        "s = context.data_array_module.newContent(reference='sec-signal-by-url')\n"
        "s.initArray((256,), 'float64'); s.getArray()[:] = np.sin(np.arange(256))\n"
        "out = s.DataArray_computeFFT(reference='sec-fft-by-url')\n"
        "import transaction; transaction.commit()\n"
        "print(out.absolute_url())"
    ).strip()
    answer = site.request(site.basic("auditor"), "GET", f"{spectrum}/DataArray_getFrequencyList",
                          params={"sample_rate": "8000"})
    assert answer.status_code == 200 and answer.text.startswith("[")


@pytest.mark.parametrize("role, method, path, data, expected", [
    ("anonymous", "POST", "manage_clone", {"ob": "3", "id": "zz"}, 401),
    ("manager", "POST", "manage_clone", {"ob": "3", "id": "zz"}, 400),
    ("author", "POST", "image_module/manage_cutObjects", {"ids:list": "no-such-id"}, 400),
    ("manager", "POST", "manage_addProperty", {"id": "p", "type": "int", "value": "abc"}, 400),
    ("manager", "POST", "portal_catalog/manage_delIndex", {"ids:list": "no-such-index"}, 400),
])
def test_zope_management_methods_given_bad_arguments_are_4xx(site, role, method, path, data,
                                                             expected):
    """Finding 3c: Zope's own ZMI methods do not validate their arguments (500s)."""
    before = site.snapshot()
    assert _status(site, role, method, f"{site.url}/{path}", data=data) == expected
    assert site.snapshot() == before


@pytest.mark.parametrize("role", ROLES_WITHOUT_VIEW)
@pytest.mark.parametrize("method", ["OPTIONS", "GET", "PROPFIND", "FOO", "POST", "HEAD"])
def test_users_who_may_not_see_the_site_cannot_probe_ids(site, targets, role, method):
    """Findings 4, 5, 6: OPTIONS, made-up methods and a no-role user told ids apart."""
    existing = f"{site.url}/data_stream_module/{targets['stream_id']}/DataStream_getAudioInfo"
    missing = f"{site.url}/data_stream_module/987654/DataStream_getAudioInfo"
    answers = {_status(site, role, method, url) for url in (existing, missing)}
    assert answers == {401}, (role, method, answers)


def test_made_up_methods_are_refused_for_everyone(site):
    assert _status(site, "manager", "FOO", f"{site.url}/portal_catalog") == 405


@pytest.mark.parametrize("script", ["Base_executeJupyter", "data_stream_module/"
                                    "DataStreamModule_upload", "Base_interruptJupyter"])
def test_head_on_scripts_is_405_and_runs_nothing(site, script):
    """Finding 7: HEAD on POST-only scripts answered 200."""
    assert _status(site, "manager", "HEAD", f"{site.url}/{script}") == 405


def test_an_origin_with_user_info_is_another_site(site):
    """Finding 10: ``Origin: http://evil@host:port`` passed the same-origin rule."""
    answer = site.request(site.basic("admin"), "POST", f"{site.url}/Base_executeJupyter",
                          headers={"Origin": f"http://evil@{site.host}:{site.port}"},
                          data={"reference": "sec-userinfo", "python_expression": "1"})
    assert answer.status_code == 403


def test_a_lone_msgpack_ext_object_is_not_an_entry(site):
    """Finding 8: an ExtType (a 2-field namedtuple) passed as a [time, data] entry."""
    before = site.snapshot()
    policy = site.run(
        "from Products.Wendelin.ingestion.supply import add_ingestion_policy\n"
        "p = context.portal_ingestion_policies._getOb('sec-fluentd', None)\n"
        "if p is None:\n"
        "    p = context.portal_ingestion_policies.newContent("
        "portal_type='Ingestion Policy', id='sec-fluentd', data_format='fluentd')\n"
        "    import transaction; transaction.commit()\n"
        "print(p.absolute_url())"
    ).strip()
    before = site.snapshot()
    answer = site.request(site.basic("author"), "POST", f"{policy}/ingest",
                          params={"reference": "sec-ext"}, data=b"\xd4\x01\x01",
                          headers={"Content-Type": "application/octet-stream"})
    assert answer.status_code == 400, answer.text[:200]
    assert site.snapshot() == before
    good = site.request(site.basic("author"), "POST", f"{policy}/ingest",
                        params={"reference": "sec-ext"}, data=msgpack_entries(b"ok"),
                        headers={"Content-Type": "application/octet-stream"})
    assert good.status_code == 204


def test_a_partial_edit_form_keeps_the_fields_it_did_not_send(site):
    """Finding 9: Base_edit with only a title emptied reference and description."""
    created = site.create("image_module", title="before", reference="sec-partial",
                          description="kept")
    session = site.cookie("author")
    token = site.csrf(session, created["url"] + "/view")
    answer = session.post(f"{created['url']}/Base_edit", data={"title": "after", "_csrf": token},
                          allow_redirects=False)
    assert answer.status_code == 303
    facts = site.run(
        f"d = context.restrictedTraverse('image_module/{created['id']}')\n"
        "print(d.getTitle(), d.getReference(), d.getDescription())"
    ).split()
    assert facts == ["after", "sec-partial", "kept"]
    TALLY.tries += 1


@pytest.mark.parametrize("name", ["index_html", "view", "manage_main", "newContent"])
def test_ids_cannot_hide_the_containers_own_names(site, name):
    """Finding 10: ``index_html`` was accepted as a document id."""
    before = site.snapshot()
    answer = site.request(site.basic("author"), "POST",
                          f"{site.url}/data_stream_module/newContentFromJSON",
                          data=json.dumps({"id": name}),
                          headers={"Content-Type": "application/json"})
    assert answer.status_code == 400 and "container itself" in answer.text, answer.text[:200]
    assert site.snapshot() == before

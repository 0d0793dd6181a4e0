"""Regression tests for the publisher-wide items of issue 12, each as it was found with curl.

Items 2, 3, 4, 5, 6, 9, 10 (the edge part), 11 and 16: the request of the report, then
the answer and the state the fixed server must show.
"""

from __future__ import annotations

import pytest
from security_conftest import TALLY, describe_change, make_fresh, msgpack_entries

EVIL = "http://evil.example"


def _unchanged(site, before: dict, what: str) -> None:
    after = site.snapshot()
    if after != before:
        change = describe_change(before, after)
        TALLY.note("partial_writes", f"{what}: {change}")
        raise AssertionError(f"{what} changed: {change}")


def test_item2_basic_credentials_with_cross_site_origin_run_no_code(site) -> None:
    """curl -u ... -H 'Origin: evil' -H 'Sec-Fetch-Site: cross-site' Base_executeJupyter: 403."""
    before = site.snapshot()
    answer = site.request(
        site.basic("admin"), "POST", f"{site.url}/Base_executeJupyter",
        headers={"Origin": EVIL, "Sec-Fetch-Site": "cross-site"},
        data={"reference": "sec-item2", "python_expression":
              "context.data_stream_module.newContent(reference='item2')\nprint(1)"})
    assert answer.status_code == 403, answer.text[:300]
    _unchanged(site, before, "item 2")


def test_item3_zmi_get_with_cookie_deletes_nothing(site) -> None:
    """An Author's cookie and GET manage_delObjects?ids:list=N from a cross-site link."""
    victim = make_fresh(site, "array")["fresh_id"]
    author = site.cookie("author")
    before = site.snapshot()
    answer = site.request(author, "GET",
                          f"{site.url}/data_array_module/manage_delObjects?ids:list={victim}",
                          headers={"Sec-Fetch-Site": "cross-site"})
    assert 400 <= answer.status_code < 500
    answer = site.request(author, "GET",
                          f"{site.url}/data_array_module/manage_delObjects?ids:list={victim}")
    assert 400 <= answer.status_code < 500
    _unchanged(site, before, "item 3 manage_delObjects")


def test_item3_manager_get_does_not_change_the_portal(site) -> None:
    """GET manage_changeProperties?title=X with a Manager's cookie: refused, title kept."""
    manager = site.cookie("manager")
    before = site.snapshot()
    answer = site.request(manager, "GET", f"{site.url}/manage_changeProperties?title=Defaced")
    assert answer.status_code == 405, answer.status_code
    _unchanged(site, before, "item 3 manage_changeProperties")


def test_item3_other_port_cannot_add_a_manager(site) -> None:
    """POST acl_users/manage_users from another port of the same host: 403, no new user."""
    manager = site.cookie("manager")
    token = site.csrf(manager)
    before = site.snapshot()
    answer = site.request(
        manager, "POST", f"{site.url}/acl_users/manage_users",
        headers={"Origin": f"http://{site.host}:{site.port + 1}", "Sec-Fetch-Site": "same-site"},
        data={"submit": "Add", "name": "evil3", "password": "Evil-3", "confirm": "Evil-3",
              "roles:list": "Manager", "_csrf": token})
    assert answer.status_code == 403
    _unchanged(site, before, "item 3 manage_users")


def test_item4_gets_never_write(site, targets) -> None:
    """GET DataStream_appendCsvToArray twice; an Auditor's GET reindexData & co: no change."""
    before = site.snapshot()
    for _ in range(2):
        answer = site.request(site.basic("author"), "GET",
                              f"{targets['csv']}/DataStream_appendCsvToArray")
        assert answer.status_code == 405, answer.status_code
    for name in ("reindexData", "reindexMetadata", "notifyModified", "reindexObject"):
        answer = site.request(site.basic("auditor"), "GET", f"{targets['stream']}/{name}")
        assert 400 <= answer.status_code < 500, (name, answer.status_code)
    _unchanged(site, before, "item 4")


def test_item5_ingest_form_field_needs_token_and_own_origin(site) -> None:
    """data_chunk with the session cookie and another port's Origin: refused, nothing stored."""
    author = site.cookie("author")
    before = site.snapshot()
    url = f"{site.url}/portal_ingestion_policies/default/ingest?reference=sec-item5"
    body = {"data_chunk": msgpack_entries(b"abc")}
    answer = site.request(author, "POST", url, data=body,
                          headers={"Origin": f"http://{site.host}:{site.port + 1}"})
    assert answer.status_code == 403
    answer = site.request(author, "POST", url, data=body)  # same origin, no token
    assert answer.status_code == 403
    _unchanged(site, before, "item 5")


def test_item6_truncated_msgpack_appends_nothing(site) -> None:
    """A body cut inside an entry is 400 and none of its complete entries is appended."""
    before = site.snapshot()
    answer = site.request(
        site.basic("author"), "POST",
        f"{site.url}/portal_ingestion_policies/default/ingest?reference=sec-item6",
        data=b"\x92\x01\xc4\x01A\x92\x01", headers={"Content-Type": "application/octet-stream"})
    assert answer.status_code == 400, answer.status_code
    _unchanged(site, before, "item 6")


@pytest.mark.parametrize("method", ["PROPFIND", "PROPPATCH", "MKCOL", "LOCK", "UNLOCK",
                                    "COPY", "MOVE"])
def test_item9_webdav_only_for_managers(site, targets, method: str) -> None:
    """WebDAV methods by a user without the Manager role: refused, no document described."""
    for actor in ("nobody", "auditor", "author", "developer"):
        answer = site.request(site.basic(actor), method, targets["stream"],
                              headers={"Depth": "1", "Destination":
                                       f"{site.url}/data_stream_module/sec-dav"})
        assert answer.status_code in (401, 403, 405), (actor, answer.status_code)
        assert "sec stream" not in answer.text and "multistatus" not in answer.text


@pytest.mark.parametrize("method", ["GET", "HEAD", "POST", "PROPFIND", "PUT", "DELETE"])
@pytest.mark.parametrize("suffix", ["", "/view", "/DataStream_getAudioInfo", "/index_html"])
def test_item9_anonymous_cannot_tell_missing_ids(site, targets, method: str, suffix: str) -> None:
    """Anonymous gets the same answer for an existing id and a missing one."""
    anonymous = site.basic("anonymous")
    existing = site.request(anonymous, method, f"{targets['stream']}{suffix}")
    missing = site.request(anonymous, method, f"{site.url}/data_stream_module/987654{suffix}")
    assert existing.status_code == missing.status_code == 401, (
        existing.status_code, missing.status_code)


def test_item10_form_converter_errors_are_4xx(site) -> None:
    """Zope's converters on bad values (``:int``, ``:date``, ``:required``...) are 400s."""
    for query in ("start:int=abc", "q:required=", "start:date=never", "size:float=x",
                  "q:long=x", "start:tokens=", "q:boolean="):
        answer = site.request(site.basic("auditor"), "GET",
                              f"{site.url}/data_stream_module/view?{query}")
        assert answer.status_code < 500, (query, answer.status_code)


def test_item10_domain_error_message_reaches_the_caller(site) -> None:
    """A domain error is answered with its status and its message (no traceback)."""
    answer = site.request(site.basic("author"), "POST",
                          f"{site.url}/data_stream_module/newContentFromJSON",
                          data='{"colour": "red"}', headers={"Content-Type": "application/json"})
    assert answer.status_code == 400
    assert "colour" in answer.text and "Traceback" not in answer.text


@pytest.mark.parametrize("error", ["KeyboardInterrupt", "GeneratorExit", "SystemExit"])
def test_item11_cell_raising_base_exceptions_gets_an_answer(site, error: str) -> None:
    """A cell that raises a BaseException still gets an HTTP answer, and the server lives."""
    answer = site.request(site.basic("developer"), "POST", f"{site.url}/Base_executeJupyter",
                          data={"reference": "sec-item11", "python_expression":
                                f"raise {error}()"}, timeout=60)
    assert answer.status_code == 200, answer.status_code
    assert answer.json()["status"] == "error" and answer.json()["ename"] == error
    alive = site.request(site.basic("auditor"), "GET", f"{site.url}/view")
    assert alive.status_code == 200


def test_item16_put_without_content_type_stores_the_body(site) -> None:
    """``curl -T file URL`` sends no Content-Type: the body is stored as it is."""
    stream = make_fresh(site, "stream")["fresh_url"]
    session = site.basic("author")
    answer = site.request(session, "PUT", stream, data=b"raw body \x00\xff")
    assert answer.status_code in (200, 201, 204), answer.text[:300]
    assert session.get(stream).content == b"raw body \x00\xff"

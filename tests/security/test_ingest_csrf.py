"""Forged ingestion posts on the real server: a logged-in browser's session cookie alone
never appends (another port of the same host is another origin; no token is no append),
while fluentd's HTTP Basic posts without Origin keep working."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from security_conftest import TALLY, Site, describe_change, msgpack_entries, refused

INGEST = "portal_ingestion_policies/default/ingest"


def post_chunk(site: Site, session: requests.Session, tag: str, payload: bytes,
               headers: dict[str, str] | None = None, fields: dict[str, str] | None = None,
               as_file: bool = True) -> requests.Response:
    """Post ``payload`` as older fluentd does: the ``data_chunk`` form field."""
    chunk = msgpack_entries(payload)
    kw: dict[str, Any] = {"headers": headers or {}, "params": {"reference": tag}}
    if as_file:
        kw["files"] = {"data_chunk": ("chunk", chunk)}
        kw["data"] = fields or {}
    else:
        kw["data"] = {"data_chunk": chunk, **(fields or {})}
    return site.request(session, "POST", f"{site.url}/{INGEST}", **kw)


def stored_tags(site: Site) -> dict:
    return site.basic("admin").get(f"{site.url}/portal_ingestion_policies/default/"
                                   "status_json").json()


def other_port_origin(site: Site) -> str:
    """The same host on another port: another origin for browsers and for the edge."""
    return f"http://{site.host}:{site.port + 1 if site.port < 65535 else site.port - 1}"


def assert_forged_refused(site: Site, answer: requests.Response, tag: str, before: dict):
    """A forged post is a 403 and changes nothing; count it in the suite's tally if not."""
    after = site.snapshot()
    if not refused(answer.status_code) or after != before:
        TALLY.note("forged_accepted", f"ingest {tag} -> {answer.status_code}: "
                   f"{describe_change(before, after)}")
    assert answer.status_code == 403, answer.text[:300]
    assert after == before, describe_change(before, after)
    assert tag not in stored_tags(site)


@pytest.mark.parametrize("as_file", [True, False], ids=["multipart", "urlencoded"])
def test_cookie_and_another_ports_origin_is_refused(site: Site, as_file: bool):
    author = site.cookie("author")
    before = site.snapshot()
    tag = f"csrf-origin-{as_file}"
    token = site.csrf(author)  # even with the token: another origin is refused first
    for fields in ({}, {"_csrf": token}):
        answer = post_chunk(site, author, tag, b"forged", as_file=as_file, fields=fields,
                            headers={"Origin": other_port_origin(site)})
        assert_forged_refused(site, answer, tag, before)
    answer = post_chunk(site, author, tag, b"forged", as_file=as_file,
                        headers={"Sec-Fetch-Site": "same-site"})
    assert_forged_refused(site, answer, tag, before)


@pytest.mark.parametrize("as_file", [True, False], ids=["multipart", "urlencoded"])
def test_cookie_without_the_token_is_refused(site: Site, as_file: bool):
    author = site.cookie("author")
    before = site.snapshot()
    tag = f"csrf-token-{as_file}"
    answer = post_chunk(site, author, tag, b"forged", as_file=as_file)
    assert_forged_refused(site, answer, tag, before)
    answer = post_chunk(site, author, tag, b"forged", as_file=as_file,
                        fields={"_csrf": "0" * 64})
    assert_forged_refused(site, answer, tag, before)


def test_cookie_with_the_token_from_the_same_origin_ingests(site: Site):
    """The control: the session's own token from its own origin is what was missing."""
    author = site.cookie("author")
    answer = post_chunk(site, author, "csrf-allowed", b"by the page",
                        fields={"_csrf": site.csrf(author)}, headers={"Origin": site.origin})
    assert answer.status_code == 204, answer.text[:300]
    assert "csrf-allowed" in stored_tags(site)


def test_fluentd_with_basic_auth_and_no_origin_ingests(site: Site):
    """fluentd's posts (form field, then body) are stored byte for byte by the default policy."""
    fluentd = site.basic("author")
    answer = post_chunk(site, fluentd, "csrf-fluentd", b"from fluentd")
    assert answer.status_code == 204, answer.text[:300]
    body = site.request(fluentd, "POST", f"{site.url}/{INGEST}", params={"reference":
                        "csrf-fluentd"}, data=msgpack_entries(b"+body"),
                        headers={"Content-Type": "application/octet-stream"})
    assert body.status_code == 204, body.text[:300]
    stream = stored_tags(site)["csrf-fluentd"]
    stored = site.basic("admin").get(stream["url"]).content
    assert stored == msgpack_entries(b"from fluentd") + msgpack_entries(b"+body")
    before = site.snapshot()  # Basic credentials do not make a cross-site post acceptable
    answer = post_chunk(site, fluentd, "csrf-basic-cross", b"forged",
                        headers={"Origin": "http://evil.example"})
    assert_forged_refused(site, answer, "csrf-basic-cross", before)

"""Stored bytes are served inert, over HTTP against the real server (issue 12: items 1,
4, 16, 20 and the Range/JSON cases of 10).

Data Stream, Data Array and Image answers carry nosniff and a sandbox CSP; a content
type outside the inline allow-list is a download; user content types are validated;
PUT works without a Content-Type; HEAD of an array tells the true length; absurd ranges
and deep JSON are 4xx; ids that need quoting are refused; data mutators are not
published to readers.
"""

from __future__ import annotations

import json
from typing import Any

import functional_server as _functional
import numpy as np
import pytest
import requests

Server = _functional.Server

JSON = {"Content-Type": "application/json"}
#: Types a browser would run as a page of the site (script, SVG, XHTML, XML with XSLT).
DANGEROUS = ["text/html", "image/svg+xml", "application/xhtml+xml", "text/xml",
             "application/xml", "text/html; charset=utf-8", "TEXT/HTML",
             "application/javascript", "application/pdf", "multipart/x-mixed-replace"]
INLINE = ["audio/wav", "video/mp4", "image/png", "image/jpeg", "text/plain",
          "application/octet-stream"]
PAYLOAD = b"<html><script>fetch('/erp5/acl_users/manage_users')</script><svg onload=x()>"


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Any:
    """One real server for this module (no Jupyter child)."""
    srv = Server(tmp_path_factory.mktemp("inert-instance"))
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def admin(server) -> requests.Session:
    return server.session()


def _create(server, admin, module: str, **properties: Any) -> requests.Response:
    return admin.post(f"{server.url}/{module}/newContentFromJSON",
                      data=json.dumps(properties), headers=JSON)


def _run(server, code: str) -> None:
    """Run trusted Python in the portal through the notebook endpoint (admin)."""
    answer = server.session().post(f"{server.url}/Base_executeJupyter",
                                   data={"python_expression": code, "reference": "inert"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "ok", answer.json()


def _assert_inert(response: requests.Response, disposition: str) -> None:
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Content-Security-Policy"] == "sandbox"
    assert response.headers["Content-Disposition"].split(";")[0] == disposition, (
        response.headers["Content-Disposition"]
    )


@pytest.mark.parametrize("content_type", DANGEROUS)
def test_dangerous_types_are_downloads(server, admin, content_type: str) -> None:
    """Set by the JSON API then PUT without a type, or set by the PUT itself: attachment."""
    created = _create(server, admin, "data_stream_module", content_type=content_type,
                      reference="evil.html")
    assert created.status_code == 201, created.text
    url = created.json()["url"]
    assert admin.put(url, data=PAYLOAD).status_code == 204  # no Content-Type: type kept
    got = admin.get(url)
    assert got.status_code == 200 and got.content == PAYLOAD
    assert got.headers["Content-Type"].lower().startswith(content_type.split(";")[0].lower())
    _assert_inert(got, "attachment")
    assert 'filename="evil.html"' in got.headers["Content-Disposition"]
    _assert_inert(admin.head(url), "attachment")

    plain = _create(server, admin, "data_stream_module").json()["url"]
    assert admin.put(plain, data=PAYLOAD, headers={"Content-Type": content_type}).status_code \
        == 204
    again = admin.get(plain)
    assert again.content == PAYLOAD
    assert again.headers["Content-Type"].lower().startswith(content_type.split(";")[0].lower())
    _assert_inert(again, "attachment")


@pytest.mark.parametrize("content_type", INLINE)
def test_allow_listed_types_play_in_place_but_stay_sandboxed(server, admin,
                                                             content_type: str) -> None:
    url = _create(server, admin, "data_stream_module", content_type=content_type,
                  reference="rec").json()["url"]
    assert admin.put(url, data=b"RIFF....WAVE").status_code == 204
    got = admin.get(url)
    assert got.headers["Content-Type"].startswith(content_type)
    _assert_inert(got, "inline")


@pytest.mark.parametrize("bad", [
    "text/html\r\nSet-Cookie: a=b", "text/html\nX: y", "html", "text/", "/html",
    "text/ html", "text/html; charset", "a" * 150 + "/" + "b" * 150, "text/html\x00",
    "<script>/x", 42, ["text/html"],
])
def test_invalid_content_types_are_refused(server, admin, bad: Any) -> None:
    """JSON API: 400 and nothing created."""
    module = f"{server.url}/data_stream_module"
    before = admin.get(f"{module}/getDocumentCount").text
    refused = _create(server, admin, "data_stream_module", content_type=bad)
    assert refused.status_code == 400, (bad, refused.status_code, refused.text)
    assert "content_type" in refused.text
    assert admin.get(f"{module}/getDocumentCount").text == before


def test_invalid_put_content_type_changes_nothing(server, admin) -> None:
    url = _create(server, admin, "data_stream_module", content_type="audio/wav").json()["url"]
    assert admin.put(url, data=b"kept").status_code == 204
    refused = admin.put(url, data=b"lost", headers={"Content-Type": "not a type"})
    assert refused.status_code == 400, refused.text
    got = admin.get(url)
    assert got.content == b"kept" and got.headers["Content-Type"] == "audio/wav"


def test_put_without_content_type_like_curl_upload(server, admin) -> None:
    """``curl -T file URL`` sends no Content-Type: binary and large bodies are stored."""
    url = _create(server, admin, "data_stream_module", content_type="audio/wav").json()["url"]
    body = bytes(range(256)) * 8192 + b"\xff\xfe=&a=b"  # 2 MiB, not UTF-8, above form limit
    request = requests.Request("PUT", url, data=body, auth=admin.auth).prepare()
    request.headers.pop("Content-Type", None)
    assert "Content-Type" not in request.headers
    answer = admin.send(request)
    assert answer.status_code == 204, answer.text[:500]
    got = admin.get(url)
    assert got.content == body
    assert got.headers["Content-Type"] == "audio/wav"  # the stream keeps its type
    small = requests.Request("PUT", url, data=b"a=b&c=d", auth=admin.auth).prepare()
    small.headers.pop("Content-Type", None)
    assert admin.send(small).status_code == 204
    assert admin.get(url).content == b"a=b&c=d"


@pytest.mark.parametrize("header, status, part", [
    ("bytes=" + "9" * 5000 + "-", 416, None),
    ("bytes=" + "1" * 5000 + "-" + "2" * 5000, 416, None),
    ("bytes=0-" + "9" * 5000, 206, slice(0, None)),
    ("bytes=-" + "9" * 5000, 206, slice(0, None)),
    ("bytes=" + "0" * 5000 + "3-4", 206, slice(3, 5)),
    ("bytes=2-" + "0" * 4999 + "3", 206, slice(2, 4)),
])
def test_absurd_ranges_are_answered(server, admin, header: str, status: int, part) -> None:
    url = _create(server, admin, "data_stream_module").json()["url"]
    body = b"0123456789"
    admin.put(url, data=body, headers={"Content-Type": "application/octet-stream"})
    got = admin.get(url, headers={"Range": header})
    assert got.status_code == status, got.text[:300]
    if part is not None:
        assert got.content == body[part]
        _assert_inert(got, "inline")
    else:
        assert got.headers.get("Content-Range") == f"bytes */{len(body)}"


def test_deep_json_is_a_400(server, admin) -> None:
    for body in ("[" * 100000, '{"a":' * 50000, '{"title": "' + "x" * 10 + '"'):
        answer = admin.post(f"{server.url}/data_stream_module/newContentFromJSON",
                            data=body, headers=JSON)
        assert answer.status_code == 400, answer.text[:300]


@pytest.mark.parametrize("bad_id", ["a b", "a#b", "a?b", "é", "a/b", "rec%20", "_x", "..",
                                    ".hidden", "x" * 101, "a\r\nb", "a&b", ""])
def test_ids_that_need_quoting_are_refused(server, admin, bad_id: str) -> None:
    module = f"{server.url}/data_stream_module"
    before = admin.get(f"{module}/getDocumentCount").text
    refused = _create(server, admin, "data_stream_module", id=bad_id)
    assert refused.status_code == 400, (bad_id, refused.status_code, refused.text)
    assert "id" in refused.json()["message"]
    assert admin.get(f"{module}/getDocumentCount").text == before


def test_chosen_ids_still_work_and_are_unique(server, admin) -> None:
    first = _create(server, admin, "data_operation_module", id="fft-2.v1_x~")
    assert first.status_code == 201 and first.json()["id"] == "fft-2.v1_x~"
    again = _create(server, admin, "data_operation_module", id="fft-2.v1_x~")
    assert again.status_code == 409, again.text


def test_array_head_tells_the_get_length(server, admin) -> None:
    _run(server,
         "import numpy as np\n"
         "a = context.data_array_module.newContent(id='inert-array', reference='spé ctrum')\n"
         "a.initArray((1000, 3), 'float32')\n"
         "a.getArray()[:] = np.arange(3000, dtype='float32').reshape(1000, 3)\n")
    url = f"{server.url}/data_array_module/inert-array"
    got = admin.get(url)
    assert got.status_code == 200
    np.testing.assert_array_equal(
        np.load(__import__("io").BytesIO(got.content)),
        np.arange(3000, dtype="float32").reshape(1000, 3),
    )
    head = admin.head(url)
    assert head.status_code == 200
    assert int(head.headers["Content-Length"]) == len(got.content) > 12000
    assert head.content == b""
    for answer in (got, head):
        _assert_inert(answer, "attachment")
        # a non-ASCII reference: ASCII fallback plus the exact name (RFC 5987)
        assert answer.headers["Content-Disposition"] == (
            "attachment; filename=\"sp_ ctrum.npy\"; filename*=UTF-8''sp%C3%A9%20ctrum.npy"
        )


def test_image_is_inert_and_its_edited_type_validated(server, admin) -> None:
    _run(server,
         "import io\nfrom PIL import Image as P\n"
         "out = io.BytesIO()\nP.new('RGB', (4, 3)).save(out, 'PNG')\n"
         "i = context.image_module.newContent(id='inert-png', reference='a\"b.png')\n"
         "i.setData(out.getvalue())\n"
         "j = context.image_module.newContent(id='inert-svg')\n"
         "j.setData(out.getvalue())\n"
         "j.edit(content_type='image/svg+xml')\n"
         "try:\n    j.edit(content_type='image/png\\r\\nX: y')\n"
         "except ValueError as e:\n    print('refused', e)\n")
    png = admin.get(f"{server.url}/image_module/inert-png")
    assert png.status_code == 200 and png.content.startswith(b"\x89PNG")
    _assert_inert(png, "inline")
    assert png.headers["Content-Disposition"].startswith('inline; filename="a_b.png"')
    head = admin.head(f"{server.url}/image_module/inert-png")
    assert int(head.headers["Content-Length"]) == len(png.content)
    _assert_inert(head, "inline")
    svg = admin.get(f"{server.url}/image_module/inert-svg")
    assert svg.headers["Content-Type"] == "image/svg+xml"
    _assert_inert(svg, "attachment")


def test_readers_cannot_call_data_mutators(server, admin) -> None:
    """Item 4: an Auditor's GET of reindexData & co. changes nothing and is refused."""
    auditor = server.add_user("inert-auditor", ["Auditor"])
    url = _create(server, admin, "data_stream_module").json()["url"]
    before = auditor.get(f"{url}/getModificationTime")
    assert before.status_code == 200
    for name in ("reindexData", "reindexMetadata", "notifyModified"):
        for method in (auditor.get, auditor.post):
            answer = method(f"{url}/{name}")
            assert answer.status_code in (401, 403, 404, 405), (name, answer.status_code)
    assert auditor.get(f"{url}/getModificationTime").text == before.text


def test_default_body_type_keeps_a_typeless_put_body_raw() -> None:
    """The PubStart rule behind the curl case, on Zope's own request: without it Zope
    parses a typeless PUT body as form fields (400 above the form memory limit)."""
    import io

    from Products.Wendelin.http.responses import DEFAULTED_BODY_TYPE, default_body_type
    from ZPublisher.HTTPRequest import HTTPRequest
    from ZPublisher.HTTPResponse import HTTPResponse

    body = b"\xff\xfe=x&" * (1 << 19)
    environ = {"REQUEST_METHOD": "PUT", "SERVER_NAME": "localhost", "SERVER_PORT": "80",
               "PATH_INFO": "/erp5/data_stream_module/1", "CONTENT_LENGTH": str(len(body))}
    request = HTTPRequest(io.BytesIO(body), environ, HTTPResponse())
    default_body_type(request)
    request.processInputs()
    assert request.environ[DEFAULTED_BODY_TYPE] is True
    assert request["BODYFILE"].read() == body and not request.form
    post = HTTPRequest(io.BytesIO(b"a=b"), {**environ, "REQUEST_METHOD": "POST",
                                           "CONTENT_LENGTH": "3"}, HTTPResponse())
    default_body_type(post)
    assert "CONTENT_TYPE" not in post.environ


def test_raw_bytes_leave_only_through_the_inert_answer(server, admin) -> None:
    """getData & co. are for code, not URLs: Zope would serve their bytes without the
    inert headers (and sniff ``<html`` bodies as HTML)."""
    url = _create(server, admin, "data_stream_module", content_type="text/html").json()["url"]
    admin.put(url, data=PAYLOAD)
    for name in ("getData", "readChunkList", "iterate", "open", "getArrayView"):
        answer = admin.get(f"{url}/{name}")
        assert answer.status_code == 404 and PAYLOAD not in answer.content, name
    _run(server, "context.data_array_module.newContent(id='inert-raw').initArray((3,), 'u1')\n"
         "import io\nfrom PIL import Image as P\nout = io.BytesIO()\n"
         "P.new('RGB', (2, 2)).save(out, 'PNG')\n"
         "context.image_module.newContent(id='inert-raw').setData(out.getvalue())\n")
    for name in ("getArray", "getArraySlice?start:int=0&end:int=2"):
        answer = admin.get(f"{server.url}/data_array_module/inert-raw/{name}")
        assert answer.status_code == 404, name
    assert admin.get(f"{server.url}/image_module/inert-raw/getData").status_code == 404


def test_every_way_in_obeys_the_same_id_rule(portal) -> None:
    """The rule lives in the containers' _checkId: _setObject and pastes obey it too."""
    from Products.Wendelin.document.stream import DataStream
    from Products.Wendelin.errors import InvalidInputError

    module = portal.data_stream_module
    for bad_id in ("a b", "ré", "a#b", "a?b"):
        with pytest.raises(InvalidInputError, match="not allowed"):
            module._setObject(bad_id, DataStream(bad_id))
        assert module._getOb(bad_id, None) is None
    module._setObject("fine-id", DataStream("fine-id"))
    assert module["fine-id"].getId() == "fine-id"

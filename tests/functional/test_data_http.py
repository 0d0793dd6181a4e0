"""Data Stream and Data Array over HTTP: Range, HEAD, PUT replace and append, .npy."""

import io

import numpy as np

BINARY = {"Content-Type": "application/octet-stream"}


def test_put_get_range_head_and_append(admin, server):
    url = server.create("data_stream_module", admin, reference="http-stream")["url"]
    payload = bytes(range(256)) * 9000  # crosses a 2 MiB block boundary
    assert admin.put(url, data=payload, headers=BINARY).status_code == 204
    full = admin.get(url)
    assert full.status_code == 200 and full.content == payload
    assert full.headers["Accept-Ranges"] == "bytes"
    assert int(full.headers["Content-Length"]) == len(payload)
    part = admin.get(url, headers={"Range": "bytes=2097150-2097160"})
    assert part.status_code == 206
    assert part.content == payload[2097150:2097161]
    assert part.headers["Content-Range"] == f"bytes 2097150-2097160/{len(payload)}"
    suffix = admin.get(url, headers={"Range": "bytes=-5"})
    assert suffix.status_code == 206 and suffix.content == payload[-5:]
    assert admin.get(url, headers={"Range": f"bytes={len(payload)}-"}).status_code == 416
    invalid = admin.get(url, headers={"Range": "bytes=3-1"})  # last before first: ignored
    assert invalid.status_code == 200 and invalid.content == payload
    head = admin.head(url)
    assert head.status_code == 200 and int(head.headers["Content-Length"]) == len(payload)

    size = len(payload)
    tail = b"appended"
    ok = admin.put(url, data=tail,
                   headers={**BINARY,
                            "Content-Range": f"bytes {size}-{size + len(tail) - 1}/*"})
    assert ok.status_code == 204
    bad = admin.put(url, data=b"zz", headers={**BINARY, "Content-Range": "bytes 5-6/*"})
    assert bad.status_code == 416
    size += len(tail)
    for header, body in (
        (f"bytes {size}-{size - 2}/*", b"zz"),  # ends before it starts
        (f"bytes {size}-{size + 1}/{size + 9}", b"zz"),  # total is not where it ends
        (f"bytes {size}-{size + 4}/*", b"zz"),  # announces 5 bytes, sends 2
        ("bytes -1-2/*", b"zz"),
    ):
        refused = admin.put(url, data=body, headers={**BINARY, "Content-Range": header})
        assert refused.status_code == 400, (header, refused.status_code)
        assert header.split("/")[0].split()[1] in refused.text or "malformed" in refused.text
    assert admin.get(url).content == payload + tail


def test_anonymous_cannot_read_or_write(server, admin):
    import requests

    url = server.create("data_stream_module", admin, reference="http-private")["url"]
    admin.put(url, data=b"secret", headers=BINARY)
    assert requests.get(url).status_code == 401
    assert requests.put(url, data=b"x").status_code == 401
    assert admin.get(url).content == b"secret"


def test_auditor_cannot_put(server, admin, tmp_path):
    url = server.create("data_stream_module", admin, reference="http-auditor")["url"]
    admin.put(url, data=b"kept", headers=BINARY)
    # Nobody but the admin exists on a fresh server; an unknown user is refused too.
    assert server.session("auditor", "nope").put(url, data=b"x").status_code == 401
    assert admin.get(url).content == b"kept"


def test_data_array_downloads_as_npy(admin, server):
    url = server.create("data_array_module", admin, reference="http-array")["url"]
    # Arrays are filled from Python (notebooks, scripts); an empty one is not found.
    response = admin.get(url)
    assert response.status_code == 404
    view = admin.get(url + "/view")
    assert view.status_code == 200 and "http-array" in view.text


def test_npy_stream_round_trip(portal_with_array):
    admin, url, expected = portal_with_array
    response = admin.get(url)
    assert response.status_code == 200
    assert response.headers["Content-Disposition"].endswith('.npy"')
    np.testing.assert_array_equal(np.load(io.BytesIO(response.content)), expected)


import pytest  # noqa: E402


@pytest.fixture
def portal_with_array(make_server):
    """A server whose Data Array was filled directly in its database while stopped."""
    import transaction
    import ZODB
    from ZODB.FileStorage import FileStorage

    srv = make_server()
    srv.start()
    url = srv.create("data_array_module", srv.session(), reference="npy")["url"]
    document_id = url.rsplit("/", 1)[1]
    srv.stop()
    var = srv.home / "var"
    db = ZODB.DB(FileStorage(str(var / "Data.fs"), blob_dir=str(var / "blobs")))
    expected = np.arange(300_000, dtype="<f4").reshape(100_000, 3)
    try:
        connection = db.open()
        document = connection.root()["Application"].erp5.data_array_module[document_id]
        document.initArray(expected.shape, expected.dtype)[:] = expected
        transaction.commit()
        connection.close()
    finally:
        db.close()
    srv.start()
    return srv.session(), f"{srv.url}/data_array_module/{document_id}", expected

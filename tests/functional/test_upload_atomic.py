"""A refused upload leaves no trace: multi-file uploads are all or nothing, the free-disk
quota refuses an upload before it is copied, and multipart bodies are not capped at 2 GB."""

from __future__ import annotations

import json
import shutil

import requests

BOUNDARY = "wendelin-atomic-upload"


def multipart(files: list[tuple[str, bytes]], fields: dict[str, str] | None = None) -> bytes:
    """A multipart/form-data body written by hand, so a part can say ``filename=""``."""
    parts = []
    for name, value in (fields or {}).items():
        parts.append(f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
                     f"{value}\r\n".encode())
    for filename, data in files:
        parts.append(
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; '
            f'filename="{filename}"\r\nContent-Type: application/octet-stream\r\n\r\n'.encode()
            + data + b"\r\n"
        )
    return b"".join(parts) + f"--{BOUNDARY}--\r\n".encode()


def post(session: requests.Session, url: str, body: bytes) -> requests.Response:
    return session.post(
        f"{url}/data_stream_module/DataStreamModule_upload",
        data=body,
        headers={"Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
                 "Accept": "application/json"},
    )


def census(ui) -> dict:
    """Documents of the stream module, catalogued Data Streams and the next id, as of now."""
    reply = ui.run(
        "import json\n"
        "module = context.data_stream_module\n"
        "print(json.dumps({'ids': sorted(module.objectIds()),\n"
        "            'catalog': sorted(b.getPath() for b in\n"
        "                              context.portal_catalog(portal_type='Data Stream')),\n"
        "            'references': sorted(b.reference for b in\n"
        "                                 context.portal_catalog(portal_type='Data Stream'))}))",
        reference="upload-census",
    )
    # printed JSON, not the repr of a string (which quotes differently when a reference
    # elsewhere on the shared server holds a quote)
    return json.loads(reply["print_result"]["data"]["text/plain"])


def test_three_files_with_a_nameless_second_store_nothing(ui):
    """The second file's empty name is a 400 after the first was copied: nothing is kept."""
    admin = ui.server.session()
    before = census(ui)
    body = multipart([("atomic-1.wav", ui.wav()), ("", b"no name"), ("atomic-3.wav", ui.wav())])
    answer = post(admin, ui.url, body)
    assert answer.status_code == 400, answer.text
    assert "no name" in answer.json()["error"]
    after = census(ui)
    assert after == before
    assert not {"atomic-1.wav", "atomic-3.wav"} & set(after["references"])
    # the same files with names are stored, all three
    named = post(admin, ui.url, multipart([("atomic-1.wav", ui.wav()), ("atomic-2.bin", b"x"),
                                           ("atomic-3.wav", ui.wav())]))
    assert named.status_code == 201, named.text
    assert len(census(ui)["ids"]) == len(before["ids"]) + 3


def test_a_taken_reference_in_a_later_file_keeps_the_earlier_ones_out(ui):
    admin = ui.server.session()
    assert post(admin, ui.url, multipart([("taken-later.wav", ui.wav())])).status_code == 201
    before = census(ui)
    answer = post(admin, ui.url, multipart([("fresh-first.wav", ui.wav()),
                                            ("taken-later.wav", ui.wav())]))
    assert answer.status_code == 409, answer.text
    assert census(ui) == before


def quota_above_free_disk(path) -> str:
    """A WENDELIN_MIN_FREE_DISK keeping 1 GiB more than is free now: every write is refused
    (clamped at 90 %, so this needs a disk that is more than a tenth full, as CI's are)."""
    usage = shutil.disk_usage(path)
    return str(min(0.9, (usage.free + 1024**3) / usage.total))


def test_an_upload_that_would_fill_the_disk_is_413_and_stores_nothing(make_server, tmp_path):
    """The free-disk quota refuses the upload before it is copied into a Data Stream."""
    server = make_server(WENDELIN_MIN_FREE_DISK=quota_above_free_disk(tmp_path))
    server.start()
    admin = server.session()
    answer = post(admin, server.url, multipart([("too-big.bin", b"\x01" * (4 * 1024**2)),
                                                ("second.bin", b"x")]))
    assert answer.status_code == 413, answer.text[:500]
    assert "WENDELIN_MIN_FREE_DISK" in answer.text
    listing = admin.get(f"{server.url}/data_stream_module/view", headers={"Accept": "text/html"})
    assert listing.status_code == 200 and '<tr data-id="' not in listing.text


def test_multipart_bodies_have_no_2gb_cap(ui):
    """Zope's form-disk-limit is far above 2 GB (the free-disk quota applies instead), and
    its memory limit stays bounded (large values are spooled to disk)."""
    reply = ui.run("from ZPublisher import HTTPRequest\n"
                   "(HTTPRequest.FORM_DISK_LIMIT, HTTPRequest.FORM_MEMORY_LIMIT,\n"
                   " HTTPRequest.FORM_MEMFILE_LIMIT)", reference="upload-limits")
    disk, memory, memfile = eval(reply["displayhook_result"]["data"]["text/plain"])
    assert disk >= 1 << 40  # at least waitress's own cap on bodies (1 TiB)
    assert memory <= 16 << 20 and memfile <= 4096   # urlencoded bodies up to 16 MB (big cells)

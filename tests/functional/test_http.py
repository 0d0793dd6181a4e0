"""The real WSGI server over HTTP: auth, front page, skins, the JSON API, persistence."""

import json
import stat
import time

import requests


def test_anonymous_gets_401_everywhere_private(server):
    for path in ("", "/data_stream_module", "/ERP5Site_getModuleInfoList"):
        response = requests.get(server.url + path)
        assert response.status_code == 401, path


def test_wrong_password_is_401(server):
    assert server.session(password="wrong").get(server.url).status_code == 401


def test_front_page_lists_the_five_modules_with_counts(admin, server):
    response = admin.get(server.url)
    assert response.status_code == 200
    for module_id in (
        "data_stream_module", "data_array_module", "data_notebook_module",
        "data_operation_module", "image_module",
    ):
        assert f'data-module="{module_id}"' in response.text


def test_skin_script_over_http_runs_on_the_document(admin, server):
    created = server.create("data_stream_module", admin, title="http", reference="http-size")
    response = admin.get(created["url"] + "/DataStream_getSize")
    # Zope answers a falsy result (size 0 of an empty stream) with 204 No Content.
    assert response.status_code == 204
    listing = admin.get(server.url + "/data_stream_module/ERP5Site_getModuleInfoList")
    assert listing.status_code == 200 and "'data_stream_module'" in listing.text
    view = admin.get(created["url"] + "/view")
    assert view.status_code == 200 and "http-size" in view.text


def test_json_api_rejects_bad_input_and_form_posts(admin, server):
    url = f"{server.url}/data_array_module/newContentFromJSON"
    form = admin.post(url, data={"title": "csrf"})
    assert form.status_code == 400
    bad = admin.post(url, data="{oops", headers={"Content-Type": "application/json"})
    assert bad.status_code == 400 and "not valid JSON" in bad.text
    wrong_type = admin.post(
        url, data=json.dumps({"portal_type": "Image"}),
        headers={"Content-Type": "application/json"},
    )
    assert wrong_type.status_code == 400 and "Image" in wrong_type.text
    assert admin.get(url).status_code in (404, 405)


def test_setters_are_not_published(admin, server):
    created = server.create("image_module", admin, title="keep")
    response = admin.get(created["url"] + "/setTitle?value=hacked")
    assert response.status_code >= 400
    assert _title(admin, created["url"] + "/view") == "keep"


def _title(session, url):
    html = session.get(url).text
    return html.split("<h1>", 1)[1].split("</h1>", 1)[0]


def test_zmi_works_for_managers(admin, server):
    root = server.url.rsplit("/erp5", 1)[0]
    assert admin.get(root + "/manage_main").status_code == 200
    assert admin.get(server.url + "/manage_main").status_code == 200


def test_generated_password_file_is_owner_only(make_server):
    srv = make_server(WENDELIN_ADMIN_PASSWORD="", WENDELIN_ADMIN_USER="admin")
    srv.start()
    password_file = srv.home / "var" / "admin-password"
    password = password_file.read_text().strip()
    assert stat.S_IMODE(password_file.stat().st_mode) == 0o600
    deadline = time.monotonic() + 10
    while not any(password in line for line in srv.output) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert any(password in line for line in srv.output)
    assert srv.session("admin", password).get(srv.url).status_code == 200
    # A second start keeps the same password.
    srv.restart()
    assert password_file.read_text().strip() == password
    assert srv.session("admin", password).get(srv.url).status_code == 200


def test_data_survives_a_restart(make_server):
    srv = make_server()
    srv.start()
    created = srv.create("data_notebook_module", title="kept", reference="r")
    assert srv.stop() == 0
    srv.start()
    admin = srv.session()
    assert _title(admin, f"{srv.url}/data_notebook_module/{created['id']}") == "kept"
    front = admin.get(srv.url).text
    count = front.split('data-module="data_notebook_module"', 1)[1].split('class="count">', 1)[1]
    assert count.startswith("2<")  # the shipped tutorial notebook and this one


def test_head_answers_carry_no_body_on_a_kept_alive_connection(admin, server):
    """A HEAD refused with an error page (a script, a missing id) sends headers only: the
    next answer on the same connection starts with its status line, not the page."""
    import base64
    import socket
    from urllib.parse import urlsplit

    stream = server.create("data_stream_module", reference="head-keepalive")
    url = urlsplit(stream["url"])
    auth = base64.b64encode(b"zope:" + server.env["WENDELIN_ADMIN_PASSWORD"].encode()).decode()
    paths = [f"{url.path}/DataStream_appendCsvToArray", f"{url.path}/no-such-thing", url.path]
    with socket.create_connection((url.hostname, url.port), timeout=30) as connection:
        reader = connection.makefile("rb")
        for method, path in [("HEAD", p) for p in paths] + [("GET", url.path)]:
            connection.sendall(f"{method} {path} HTTP/1.1\r\nHost: {url.netloc}\r\n"
                               f"Authorization: Basic {auth}\r\n\r\n".encode())
            status = reader.readline()
            assert status.startswith(b"HTTP/1.1 "), (method, path, status[:80])
            length = 0
            while (line := reader.readline()) not in (b"\r\n", b""):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            if method == "GET":
                assert reader.read(length) == b""  # the empty stream's bytes

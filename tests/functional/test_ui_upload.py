"""Uploads into Data Streams over HTTP: the scripted contract, browser forms, error paths."""

import requests


def _upload(session, ui, files, data=None, json=True, **kw):
    headers = {"Accept": "application/json"} if json else {"Accept": "text/html"}
    return session.post(f"{ui.url}/data_stream_module/DataStreamModule_upload",
                        files=files, data=data or {}, headers=headers, **kw)


def test_scripted_upload_answers_201_with_the_contract(ui):
    wav = ui.wav(seconds=1.5, rate=16000, channels=1)
    response = _upload(ui.server.session(), ui, {"file": ("contract.wav", wav, "audio/x-wav")},
                       {"title": "Contract"})
    assert response.status_code == 201
    body = response.json()
    assert {"id", "url", "reference", "size", "content_type"} <= set(body)
    assert body["reference"] == "contract.wav" and body["size"] == len(wav)
    assert body["content_type"] == "audio/wav" and body["duration"] == 1.5
    assert response.headers["Location"] == body["url"]
    stored = ui.server.session().get(body["url"])
    assert stored.content == wav and stored.headers["Content-Type"] == "audio/wav"
    assert "<h1>Contract</h1>" in ui.server.session().get(body["url"] + "/view").text


def test_browser_form_post_gets_303_to_the_new_document(ui):
    session = ui.login()
    page = session.get(f"{ui.url}/data_stream_module/view").text
    assert 'id="upload-form"' in page
    response = _upload(session, ui, {"file": ("form.wav", ui.wav(), "audio/wav")},
                       {"_csrf": ui.csrf(page), "reference": "form-ref"}, json=False,
                       allow_redirects=False)
    assert response.status_code == 303
    target = response.headers["Location"]
    assert "/data_stream_module/" in target and target.endswith("/view?status=uploaded")
    assert "form-ref" in session.get(target).text


def test_browser_upload_without_token_is_refused(ui):
    session = ui.login()
    response = _upload(session, ui, {"file": ("nocsrf.wav", ui.wav(), "audio/wav")},
                       {"reference": "no-csrf"})
    assert response.status_code == 403
    listing = ui.server.session().get(f"{ui.url}/data_stream_module/view",
                                      params={"reference": "no-csrf"})
    assert '<tr data-id="' not in listing.text


def test_taken_reference_is_a_clear_error_unless_replace(ui):
    admin = ui.server.session()
    first = _upload(admin, ui, {"file": ("taken.wav", ui.wav(1.0), "audio/wav")}).json()
    again = _upload(admin, ui, {"file": ("taken.wav", ui.wav(2.0), "audio/wav")})
    assert again.status_code == 409
    assert "'taken.wav' is already used" in again.json()["error"]
    page = _upload(admin, ui, {"file": ("taken.wav", ui.wav(2.0), "audio/wav")}, json=False)
    assert page.status_code == 409 and "already used" in page.text and "Upload failed" in page.text
    replaced = _upload(admin, ui, {"file": ("taken.wav", ui.wav(2.0), "audio/wav")},
                       {"replace": "1"})
    assert replaced.status_code == 201 and replaced.json()["id"] == first["id"]
    assert replaced.json()["duration"] == 2.0 and replaced.json()["size"] > first["size"]


def test_corrupt_and_non_audio_files_are_stored_with_a_warning(ui):
    admin = ui.server.session()
    corrupt = _upload(admin, ui, {"file": ("broken.wav", b"RIFF\x00\x00\x00\x00WAVEjunk" * 50,
                                           "audio/wav")})
    assert corrupt.status_code == 201
    body = corrupt.json()
    assert body["content_type"] == "application/octet-stream" and body["size"] == 800
    assert "stored as plain bytes" in body["warning"] and "not a readable audio file" in body[
        "warning"]
    text = _upload(admin, ui, {"file": ("notes.html", b"<script>alert(1)</script>",
                                        "text/html")}).json()
    assert text["content_type"] == "application/octet-stream"
    assert "not a recognised audio file" in text["warning"]
    served = admin.get(text["url"])
    assert served.headers["Content-Type"] == "application/octet-stream"
    page = admin.get(body["url"] + "/view", headers={"Accept": "text/html"}).text
    assert "Not shown as audio" in page


def test_several_files_in_one_form_post(ui):
    admin = ui.server.session()
    response = _upload(admin, ui, [("file", ("multi-a.wav", ui.wav(), "audio/wav")),
                                   ("file", ("multi-b.wav", ui.wav(), "audio/wav"))])
    assert response.status_code == 201
    references = sorted(d["reference"] for d in response.json()["documents"])
    assert references == ["multi-a.wav", "multi-b.wav"]


def test_upload_error_paths(ui):
    admin = ui.server.session()
    missing = admin.post(f"{ui.url}/data_stream_module/DataStreamModule_upload",
                         data={"reference": "x"}, headers={"Accept": "application/json"})
    assert missing.status_code == 400 and "No file was sent" in missing.json()["error"]
    anonymous = requests.post(f"{ui.url}/data_stream_module/DataStreamModule_upload",
                              files={"file": ("anon.wav", b"RIFF")})
    assert anonymous.status_code == 401
    wrong_module = admin.post(
        f"{ui.url}/image_module/DataStreamModule_upload",
        files={"file": ("x.wav", ui.wav(), "audio/wav")}, headers={"Accept": "application/json"})
    # the naming rule: DataStreamModule_ scripts run on the Data Stream module only
    assert wrong_module.status_code == 404 and "DataStreamModule" in wrong_module.text
    ui.add_user("ui-reader", ["Auditor"])
    reader = ui.server.session("ui-reader", "pw-secret")
    refused = _upload(reader, ui, {"file": ("reader.wav", ui.wav(), "audio/wav")})
    assert refused.status_code in (401, 403)
    listing = admin.get(f"{ui.url}/data_stream_module/view", params={"reference": "reader.wav"})
    assert "reader.wav</td>" not in listing.text

"""Web UI authentication over HTTP: login form, session cookie, logout, redirects, CSRF."""

from urllib.parse import quote

import requests


def test_anonymous_browser_is_sent_to_login_and_scripts_get_401(ui):
    page = f"{ui.url}/data_stream_module"
    browser = requests.get(page, headers=ui.HTML, allow_redirects=False)
    assert browser.status_code == 302
    assert browser.headers["Location"] == f"{ui.url}/login_form?came_from={quote(page, safe='')}"
    script = requests.get(page, allow_redirects=False)
    assert script.status_code == 401 and "basic" in script.headers["WWW-Authenticate"].lower()


def test_login_page_is_public_and_shows_nothing_private(ui):
    ui.server.create("data_stream_module", title="secret-title-anon", reference="secret-ref")
    response = requests.get(f"{ui.url}/login_form", headers=ui.HTML)
    assert response.status_code == 200
    assert 'name="__ac_password"' in response.text
    assert "secret-title-anon" not in response.text and "Data Streams" not in response.text
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert requests.get(f"{ui.url}/wendelin.css").status_code == 200
    for private in ("ERP5Site_getModuleInfoList", "data_stream_module/view", "Base_getView"):
        assert requests.get(f"{ui.url}/{private}").status_code == 401, private


def test_login_with_wrong_password_shows_an_error(ui):
    session = requests.Session()
    form = session.get(f"{ui.url}/login_form", headers=ui.HTML)
    answer = session.post(
        f"{ui.url}/ERP5Site_login", headers=ui.HTML, allow_redirects=False,
        data={"_csrf": ui.csrf(form.text), "__ac_name": "zope", "__ac_password": "wrong"},
    )
    assert answer.status_code == 200
    assert "Unknown user name or wrong password." in answer.text
    assert "wendelin_session" not in answer.headers.get("Set-Cookie", "")


def test_login_needs_the_forms_csrf_token(ui):
    answer = requests.post(
        f"{ui.url}/ERP5Site_login", allow_redirects=False,
        data={"__ac_name": "zope", "__ac_password": "functional-secret"},
    )
    assert answer.status_code == 403


def test_login_redirects_to_came_from_inside_the_portal_only(ui):
    session = requests.Session()
    form = session.get(f"{ui.url}/login_form", headers=ui.HTML)
    answer = session.post(
        f"{ui.url}/ERP5Site_login", allow_redirects=False,
        data={"_csrf": ui.csrf(form.text), "__ac_name": "zope",
              "__ac_password": "functional-secret", "came_from": "http://evil.example/x"},
    )
    assert answer.status_code == 303 and answer.headers["Location"] == ui.url
    cookie = answer.headers["Set-Cookie"]
    assert "wendelin_session=" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    target = f"{ui.url}/image_module/view"
    form = session.get(f"{ui.url}/login_form", headers=ui.HTML)
    again = session.post(
        f"{ui.url}/ERP5Site_login", allow_redirects=False,
        data={"_csrf": ui.csrf(form.text), "__ac_name": "zope",
              "__ac_password": "functional-secret", "came_from": target},
    )
    assert again.headers["Location"] == target


def test_session_browses_then_logout_ends_it_server_side(ui):
    session = ui.login()
    home = session.get(ui.url)
    assert home.status_code == 200 and 'class="username">zope<' in home.text
    stolen = session.cookies.get("wendelin_session")
    assert session.post(f"{ui.url}/ERP5Site_logout", allow_redirects=False).status_code == 403
    out = session.post(
        f"{ui.url}/ERP5Site_logout", data={"_csrf": ui.csrf(home.text)}, allow_redirects=False
    )
    assert out.status_code == 303 and out.headers["Location"].endswith("status=logged-out")
    replay = requests.get(
        ui.url, cookies={"wendelin_session": stolen}, headers=ui.HTML, allow_redirects=False
    )
    assert replay.status_code == 302 and "/login_form" in replay.headers["Location"]


def test_forged_session_cookie_is_anonymous(ui):
    response = requests.get(
        ui.url, cookies={"wendelin_session": "forged"}, allow_redirects=False
    )
    assert response.status_code == 401


def test_users_added_by_the_standard_form_log_in_with_their_roles(ui):
    ui.add_user("ui-auditor", ["Auditor"])
    session = ui.login("ui-auditor", "pw-secret")
    created = ui.server.create("data_array_module", title="audited", reference="audited")
    page = session.get(created["url"] + "/view")
    assert page.status_code == 200 and "audited" in page.text
    assert "Edit properties" not in page.text
    edit = session.post(
        created["url"] + "/Base_edit", data={"_csrf": ui.csrf(page.text), "title": "hacked"},
        allow_redirects=False,
    )
    assert edit.status_code in (302, 401, 403)
    assert "hacked" not in ui.server.session().get(created["url"] + "/view").text
    listing = session.get(f"{ui.url}/data_array_module/view")
    assert "Delete selected" not in listing.text


def test_state_changes_need_csrf_with_a_cookie_but_not_for_basic_auth_scripts(ui):
    created = ui.server.create("image_module", title="csrf-target", reference="csrf-target")
    session = ui.login()
    refused = session.post(created["url"] + "/Base_edit", data={"title": "forged"})
    assert refused.status_code == 403
    wrong = session.post(created["url"] + "/Base_edit", data={"title": "forged", "_csrf": "0" * 64})
    assert wrong.status_code == 403
    script = ui.server.session().post(
        created["url"] + "/Base_edit", data={"title": "by script"}, allow_redirects=False
    )
    assert script.status_code == 303
    cross_site = ui.server.session().post(
        created["url"] + "/Base_edit", data={"title": "cross"},
        headers={"Origin": "http://evil.example"}, allow_redirects=False,
    )
    assert cross_site.status_code == 403
    page = ui.server.session().get(created["url"] + "/view").text
    assert "<h1>by script</h1>" in page


def test_state_changes_refuse_get(ui):
    created = ui.server.create("image_module", title="get-target")
    response = ui.server.session().get(created["url"] + "/Base_edit?title=via-get")
    assert response.status_code == 405
    assert "via-get" not in ui.server.session().get(created["url"] + "/view").text


def test_a_logged_in_user_refused_a_page_is_sent_to_login_saying_so(ui):
    """The browser challenge lives in the edge's exception view (no per-response hook)."""
    ui.add_user("ui-auditor-denied", ["Auditor"], "pw-denied")
    session = ui.login("ui-auditor-denied", "pw-denied")
    page = f"{ui.url}/manage_main"  # Managers only
    refused = session.get(page, allow_redirects=False)
    assert refused.status_code == 302
    assert refused.headers["Location"] == f"{ui.url}/login_form?came_from={quote(page, safe='')}"
    login = session.get(refused.headers["Location"])
    assert "who may not open" in login.text and "ui-auditor-denied" in login.text
    basic = requests.get(page, auth=("ui-auditor-denied", "pw-denied"), allow_redirects=False,
                         headers=ui.HTML)
    assert basic.status_code == 401  # a script with Basic credentials gets no redirect

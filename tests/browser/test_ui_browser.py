"""The web UI in a real browser: log in, browse, search, sort, page, upload, play, delete."""

import re

import requests
from browser_helpers import wav_bytes
from playwright.sync_api import expect


def shot(page, artifacts, name: str) -> None:
    """Save a full-page screenshot as a test artifact."""
    page.screenshot(path=str(artifacts / f"{name}.png"), full_page=True)


def test_anonymous_visitor_sees_only_the_login_page(page, live_server, fixtures, artifacts):
    page.goto(f"{live_server.url}/data_operation_module/view")
    expect(page).to_have_url(re.compile(r"/login_form\?came_from="))
    expect(page.locator("h1")).to_have_text("Log in to Wendelin")
    body = page.content()
    assert "Operation 0" not in body and "Data Operations" not in body
    shot(page, artifacts, "01-login")
    page.fill("input[name=__ac_name]", "zope")
    page.fill("input[name=__ac_password]", "wrong password")
    page.click("button:has-text('Log in')")
    expect(page.locator(".flash.error")).to_contain_text("wrong password")
    assert requests.get(f"{live_server.url}/image_module").status_code == 401


def test_login_lands_on_came_from_and_logout_ends_the_session(page, live_server, fixtures):
    page.goto(f"{live_server.url}/image_module/view")
    page.fill("input[name=__ac_name]", "zope")
    page.fill("input[name=__ac_password]", "functional-secret")
    page.keyboard.press("Enter")
    expect(page.locator("h1")).to_have_text("Images")
    page.click("button:has-text('Log out')")
    expect(page.locator(".flash.success")).to_have_text("You are logged out.")
    page.goto(f"{live_server.url}/image_module/view")
    expect(page).to_have_url(re.compile(r"/login_form"))


def test_start_page_and_every_module(page, login, live_server, fixtures, artifacts):
    login()
    expect(page.locator(".card")).to_have_count(11)   # five data modules, six of pipelines
    count = page.locator(".card[data-module=data_operation_module] .count").inner_text()
    assert int(count) >= 27
    shot(page, artifacts, "02-start-page")
    titles = ["Data Streams", "Data Arrays", "Data Notebooks", "Data Operations", "Images",
              "Data Products", "Data Supplies", "Data Ingestions", "Data Transformations",
              "Data Analyses", "Progress Indicators"]
    for title in titles:
        page.click(f".mainnav a:has-text('{title}')")
        expect(page.locator("h1")).to_have_text(title)
        expect(page.locator("table.listing")).to_be_visible()


def test_search_sort_and_page_the_listing(page, login, live_server, fixtures, artifacts):
    login()
    page.goto(f"{live_server.url}/data_operation_module/view")
    page.select_option("select[name=size]", "20")
    page.fill("input[name=reference]", "op-")
    page.click("form.searchbar button:has-text('Search')")
    page.click("th a[data-sort=reference]")
    expect(page.locator("th[aria-sort=ascending] a[data-sort=reference]")).to_be_visible()
    references = page.locator("td.reference")
    expect(references).to_have_count(20)
    expect(references.first).to_have_text("op-00")
    shot(page, artifacts, "03-listing-sorted")
    page.click("a[rel=next]")
    expect(references).to_have_count(7)
    expect(references.first).to_have_text("op-20")
    expect(page.locator(".range")).to_contain_text("21–27 of 27")
    page.click("th a[data-sort=reference]")  # again: descending
    expect(references.first).to_have_text("op-26")
    page.fill("input[name=q]", "tag13x")
    page.fill("input[name=reference]", "")
    page.click("form.searchbar button:has-text('Search')")
    expect(page.locator("td.title a")).to_have_text(["Operation 13"])


def test_upload_wav_see_duration_play_and_preview(page, login, live_server, fixtures, artifacts,
                                                  tmp_path):
    login()
    page.goto(f"{live_server.url}/data_stream_module/view")
    first, second = tmp_path / "chord.wav", tmp_path / "not-audio.bin"
    first.write_bytes(wav_bytes(seconds=3.0))
    second.write_bytes(b"\x00\x01 just some bytes " * 100)
    page.set_input_files("input[type=file]", [str(first), str(second)])
    page.click("#upload-form button:has-text('Upload')")
    rows = page.locator("#upload-list li:not(.summary)")
    expect(rows).to_have_count(2)
    expect(rows.nth(0).locator(".state a")).to_have_text("Done")
    expect(rows.nth(1).locator(".state")).to_contain_text("not a recognised audio file")
    expect(page.locator("#upload-list li.summary")).to_be_visible()
    assert page.locator("#upload-list progress").nth(0).evaluate("p => p.value === p.max")
    shot(page, artifacts, "04-upload-progress")
    page.click("#upload-list li.summary a")
    row = page.locator("tr", has=page.locator("td.reference", has_text="chord.wav"))
    expect(row.locator("td.duration")).to_have_text("3.0 s")
    shot(page, artifacts, "05-stream-listing")
    row.locator("td.title a").click()
    expect(page.locator("dd.duration")).to_have_text("3.0 s")
    expect(page.locator("dd.channels")).to_have_text("2")
    waveform = page.locator(".waveform img")
    expect(waveform).to_be_visible()
    page.wait_for_function("img => img.complete && img.naturalWidth === 1000",
                           arg=waveform.element_handle())
    player = page.locator("audio.player")
    page.wait_for_function("a => a.readyState >= 1", arg=player.element_handle())
    assert abs(player.evaluate("a => a.duration") - 3.0) < 0.05
    player.evaluate("a => { a.muted = true; return a.play(); }")
    page.wait_for_function("a => a.currentTime > 0", arg=player.element_handle())
    shot(page, artifacts, "06-stream-view")


def test_array_plot_image_notebook_and_operation(page, login, live_server, fixtures, artifacts):
    login()
    page.goto(f"{live_server.url}/data_array_module/view?reference=sine-1d")
    page.click("td.title a:has-text('Sine wave')")
    expect(page.locator("dd.shape")).to_have_text("200000")
    plot = page.locator(".plot img")
    page.wait_for_function("img => img.complete && img.naturalWidth === 900",
                           arg=plot.element_handle())
    expect(page.locator("a:has-text('Download .npy')")).to_be_visible()
    shot(page, artifacts, "07-array-view")

    page.goto(fixtures["image"]["url"] + "/view")
    expect(page.locator("h1")).to_have_text("Spectrum plot")
    expect(page.locator(".empty-picture")).to_be_visible()

    page.goto(f"{live_server.url}/data_notebook_module/view?reference=browser-notebook")
    page.click("td.title a")
    expect(page.locator(".cell")).to_have_count(2)
    expect(page.locator(".outputs").first).to_contain_text("square root of two: 1.414")
    expect(page.locator(".out-html table th")).to_have_text("k")
    assert page.locator(".outputs script").count() == 0
    link = page.locator("a.open-jupyter")
    expect(link).to_have_attribute(
        "href", re.compile(r"^http://127\.0\.0\.1:\d+/notebooks/browser-notebook\.ipynb$")
    )
    shot(page, artifacts, "08-notebook-view")

    page.goto(f"{live_server.url}/data_operation_module/view?reference=op-05")
    page.click("td.title a")
    expect(page.locator("dd.script-id")).to_have_text("DataArray_step2")
    shot(page, artifacts, "09-operation-view")


def test_delete_after_confirmation(page, login, live_server, fixtures, artifacts):
    login()
    page.goto(f"{live_server.url}/data_operation_module/view?reference=op-2&sort=reference"
              "&order=ascending")
    expect(page.locator("td.reference")).to_have_count(7)
    for reference in ("op-24", "op-25"):
        row = page.locator("tr", has=page.locator("td.reference", has_text=reference))
        row.locator("input[type=checkbox]").check()
    page.click("button:has-text('Delete selected')")
    expect(page.locator("h1")).to_have_text("Delete 2 documents?")
    expect(page.locator(".delete-list li")).to_have_count(2)
    shot(page, artifacts, "10-delete-confirmation")
    page.click(".confirm-form button:has-text('Delete')")
    expect(page.locator(".flash.success")).to_have_text("The selected documents were deleted.")
    page.goto(f"{live_server.url}/data_operation_module/view?reference=op-2")
    expect(page.locator("td.reference")).to_have_count(5)
    assert "op-24" not in page.content() and "op-25" not in page.content()


def test_missing_page_has_the_site_error_page(page, login, live_server, fixtures, artifacts):
    login()
    answer = page.goto(f"{live_server.url}/data_stream_module/no-such-recording")
    assert answer.status == 404
    expect(page.locator("h1")).to_have_text("Page not found")
    expect(page.locator("main code")).to_contain_text("no-such-recording")
    shot(page, artifacts, "13-not-found")
    page.click("text=Back to the start page")
    expect(page.locator("[data-module=data_stream_module]")).to_be_visible()


def test_phone_layout_is_readable(chromium, live_server, fixtures, artifacts):
    context = chromium.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    page = context.new_page()
    page.goto(live_server.url)
    page.fill("input[name=__ac_name]", "zope")
    page.fill("input[name=__ac_password]", "functional-secret")
    page.click("button:has-text('Log in')")
    expect(page.locator(".card")).to_have_count(11)   # five data modules, six of pipelines
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0
    shot(page, artifacts, "11-phone-start")
    page.goto(f"{live_server.url}/data_operation_module/view")
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0
    shot(page, artifacts, "12-phone-listing")
    context.close()

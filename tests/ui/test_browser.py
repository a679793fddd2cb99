"""The web UI in a real headless Chromium: browse, read reports, download, aliases,
compare, upload, live progress, escaping and the 404 page."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import numpy as np
import pytest

from registry import JobRunner, Registry, Settings
from tests.conftest import start_registry, stop_registry
from tests.factories.onnx_models import linear_model
from tests.ui.conftest import EVIL_TEXT, push

pytestmark = pytest.mark.ui


def expect():
    from playwright.sync_api import expect as _expect

    return _expect


def test_search_then_open_model_and_version(page, push_linear, unique_name):
    push_linear(unique_name, description="fraud scorer")
    push_linear(f"{unique_name}-other")

    page.goto("/")
    page.get_by_role("searchbox", name="Search").fill(unique_name + "-other")
    page.get_by_role("button", name="Search").click()
    expect()(page.locator("tr[data-model]")).to_have_count(1)
    page.get_by_role("searchbox", name="Search").fill(unique_name)
    page.get_by_label("Sort by").select_option("name")
    page.get_by_role("button", name="Search").click()
    expect()(page.locator("tr[data-model]")).to_have_count(2)
    assert "sort=name" in page.url

    page.get_by_role("link", name=unique_name, exact=True).click()
    expect()(page.get_by_role("heading", level=1)).to_have_text(unique_name)
    expect()(page.locator("p.description")).to_have_text("fraud scorer")

    page.locator("tr[data-version='1']").get_by_role("link", name="v1").click()
    assert page.url.endswith(f"/models/{unique_name}/versions/1")
    expect()(page.locator("#version-status")).to_have_text("ready")


def test_read_the_validation_report(page, shared_model):
    page.goto(f"/models/{shared_model}/versions/1")
    section = page.locator("#artifact-onnx")
    expect()(section.get_by_role("heading", name=re.compile("onnx"))).to_be_visible()
    report = section.locator("table.report tr[data-output='y']")
    expect()(report).to_be_visible()
    cells = report.locator("td")
    assert float(cells.nth(1).inner_text()) == 0.0  # passthrough: bit-identical
    expect()(report.locator(".errbar")).to_have_attribute("role", "img")
    expect()(section.locator("table.signature")).to_contain_text("[batch, 4]")


def test_download_an_artifact_and_check_its_sha256(page, http, shared_model):
    version = http.get(f"/api/v1/models/{shared_model}/versions/1").json()
    want = next(a["sha256"] for a in version["artifacts"] if a["format"] == "onnx")
    page.goto(f"/models/{shared_model}/versions/1")
    shown = page.locator("tr[data-format='onnx'] .sha").inner_text()
    assert shown == want

    with page.expect_download() as info:
        page.get_by_role("link", name="Download onnx").click()
    data = Path(info.value.path()).read_bytes()
    assert hashlib.sha256(data).hexdigest() == want


def test_copy_buttons_copy_the_commands(page, shared_model):
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.goto(f"/models/{shared_model}/versions/1")
    button = page.get_by_role("button", name="Copy load call")
    button.click()
    expect()(button).to_have_text("Copied")
    clip = page.evaluate("navigator.clipboard.readText()")
    assert clip == f'runtime.load("{shared_model}:1")'


def test_set_move_and_remove_an_alias(page, push_linear, unique_name, http):
    push_linear(unique_name, wait=False)
    push_linear(unique_name, seed=1, wait=False)
    page.goto(f"/models/{unique_name}")

    page.get_by_label("Alias", exact=True).fill("production")
    page.get_by_label("Version", exact=True).fill("1")
    page.get_by_role("button", name="Set alias").click()
    row = page.locator("tr[data-alias='production']")
    expect()(row).to_contain_text("v1")
    assert http.get(f"/api/v1/models/{unique_name}/versions/production").json()["version"] == 1

    page.get_by_label("Alias", exact=True).fill("production")
    page.get_by_label("Version", exact=True).fill("2")
    page.get_by_role("button", name="Set alias").click()
    expect()(page.locator("tr[data-alias='production']")).to_contain_text("v2")
    expect()(page.locator("tr[data-version='2']")).to_contain_text("@production")

    page.get_by_role("button", name="Remove alias production").click()
    expect()(page.locator("tr[data-alias='production']")).to_have_count(0)
    assert http.get(f"/api/v1/models/{unique_name}/versions/production").status_code == 404


def test_invalid_alias_shows_the_servers_reason(page, shared_model):
    page.goto(f"/models/{shared_model}")
    page.get_by_label("Alias", exact=True).fill("prod")
    page.get_by_label("Version", exact=True).fill("1")
    # bypass the browser's own pattern check to reach the API's validation
    page.evaluate("document.getElementById('alias-name').removeAttribute('pattern')")
    page.get_by_label("Alias", exact=True).fill("latest")
    page.get_by_role("button", name="Set alias").click()
    expect()(page.locator("#alias-message")).to_contain_text("latest")
    expect()(page.locator("#alias-message")).to_have_class("error-box")


def test_compare_two_versions(page, shared_model):
    page.goto(f"/models/{shared_model}")
    page.get_by_label("Version A").fill("1")
    page.get_by_label("Version B").fill("2")
    page.get_by_role("button", name="Compare").click()
    assert re.search(r"/compare\?a=1&b=2$", page.url)
    changed = page.locator("table.sigdiff tr[data-name='x']")
    expect()(changed).to_contain_text("changed")
    expect()(changed).to_contain_text("[batch, 6]")
    expect()(page.locator("table.formats-diff tr[data-format='onnx']")).to_contain_text("passed")


def test_upload_with_the_form_and_watch_it_become_ready(page, tmp_path, unique_name):
    model = linear_model(tmp_path / "upload.onnx", n_in=3)
    sample = tmp_path / "sample.npz"
    np.savez(sample, x=np.arange(15, dtype=np.float32).reshape(5, 3))
    page.goto("/upload")
    page.get_by_label("Model name").fill(unique_name)
    page.locator("#file").set_input_files(str(model))
    expect()(page.locator("#file-chosen")).to_contain_text("upload.onnx")
    page.get_by_label("Sample inputs (optional)").set_input_files(str(sample))
    page.get_by_label("Description (optional)").fill("uploaded from the browser")

    def is_upload(response):
        return response.request.method == "POST" and response.url.endswith(
            f"/api/v1/models/{unique_name}/versions"
        )

    with page.expect_response(is_upload) as posted:
        page.get_by_role("button", name="Upload").click()
    assert posted.value.status == 202
    assert "multipart/form-data" in posted.value.request.headers["content-type"]

    page.wait_for_url(re.compile(rf"/models/{unique_name}/versions/1$"))
    expect()(page.locator("#version-status")).to_have_text("ready", timeout=60_000)
    expect()(page.locator("table.artifacts tr[data-format='onnx']")).to_contain_text("passed")
    expect()(page.locator("p.description")).to_have_text("uploaded from the browser")
    expect()(page.locator("#artifact-onnx")).to_contain_text("uploaded")  # sample origin


def test_upload_refused_by_the_server_shows_why(page, tmp_path, unique_name):
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"this is not a model")
    page.goto("/upload")
    page.get_by_label("Model name").fill(unique_name)
    page.locator("#file").set_input_files(str(junk))
    page.get_by_role("button", name="Upload").click()
    expect()(page.locator("#upload-error")).to_be_visible()
    assert "/upload" in page.url


def test_drop_a_file_on_the_drop_zone(page, tmp_path, unique_name):
    page.goto("/upload")
    handle = page.evaluate_handle(
        """() => { const dt = new DataTransfer();
                   dt.items.add(new File([new Uint8Array([1, 2, 3])], 'dropped.onnx'));
                   return dt; }"""
    )
    page.dispatch_event("#dropzone", "drop", {"dataTransfer": handle})
    expect()(page.locator("#file-chosen")).to_contain_text("dropped.onnx")
    expect()(page.get_by_label("Model name")).to_have_value("dropped")


def test_live_progress_updates_the_page_without_a_reload(browser, tmp_path):
    """A server with no job runner keeps the version pending; the job then runs here."""
    data, db_url = tmp_path / "data", f"sqlite:///{tmp_path / 'live.db'}"
    reg = start_registry(data, db_url, {"MODELPORT_WORKER_CONCURRENCY": "0"})
    context = browser.new_context(base_url=reg.url)
    try:
        with reg.client() as client:
            push(client, "live", linear_model(tmp_path / "live.onnx"))
        pg = context.new_page()
        pg.goto("/models/live/versions/1")
        expect()(pg.locator("#live-progress")).to_be_visible()
        expect()(pg.locator("#version-status")).to_have_text("pending")
        pg.evaluate("window.__same_document = true")
        # the poller has fetched the version and its job at least once
        expect()(pg.locator("#live-text")).to_contain_text("job queued (attempt 0")

        registry = Registry(Settings(data_dir=data, database_url=db_url))
        try:
            assert JobRunner(registry).run_once()
        finally:
            registry.close()

        expect()(pg.locator("#version-status")).to_have_text("ready", timeout=20_000)
        expect()(pg.locator("#live-progress")).to_have_count(0)
        expect()(pg.locator("table.report tr[data-output='y']")).to_be_visible()
        assert pg.evaluate("window.__same_document") is True
    finally:
        context.close()
        stop_registry(reg)


def test_malicious_strings_show_as_text(page, push_linear, unique_name):
    push_linear(unique_name, description=EVIL_TEXT, tags={"<script>": "{{7*7}}"})
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    base = f"/models/{unique_name}"
    for url in (f"/?q={unique_name}", base, f"{base}/versions/1"):
        page.goto(url)
        expect()(page.locator("body")).to_contain_text("<script>alert('x')</script>{{7*7}}")
        expect()(page.locator("body")).to_contain_text("<script>={{7*7}}")
    page.wait_for_timeout(200)
    assert dialogs == []


def test_unknown_model_shows_the_404_page(page):
    response = page.goto("/models/there-is-no-such-model")
    assert response.status == 404
    expect()(page.get_by_role("heading", level=1)).to_contain_text("404")
    page.get_by_role("link", name="Back to the models").click()
    expect()(page.get_by_role("heading", level=1)).to_have_text("Models")


def test_keyboard_reaches_the_skip_link_first(page):
    page.goto("/")
    page.keyboard.press("Tab")
    focused = page.evaluate("document.activeElement.textContent")
    assert focused == "Skip to content"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"


def test_phone_width_has_no_horizontal_scroll(browser, ui_registry, shared_model):
    unique_name = shared_model
    context = browser.new_context(base_url=ui_registry.url, viewport={"width": 390, "height": 844})
    try:
        pg = context.new_page()
        for url in ("/", f"/models/{unique_name}", f"/models/{unique_name}/versions/1", "/upload"):
            pg.goto(url)
            overflow = pg.evaluate(
                "document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            assert overflow <= 1, f"{url} scrolls sideways by {overflow}px on a phone"
    finally:
        context.close()


def test_dark_mode_follows_the_system(browser, ui_registry):
    colors = {}
    for scheme in ("light", "dark"):
        context = browser.new_context(base_url=ui_registry.url, color_scheme=scheme)
        try:
            pg = context.new_page()
            pg.goto("/upload")
            colors[scheme] = pg.evaluate("getComputedStyle(document.body).backgroundColor")
        finally:
            context.close()
    assert colors["light"] == "rgb(255, 255, 255)"
    assert colors["dark"] == "rgb(13, 17, 23)"


def test_the_policy_blocks_injected_inline_script(browser, ui_registry):
    """Were a string ever to slip through escaping, the browser would still not run it."""
    context = browser.new_context(base_url=ui_registry.url)
    try:
        pg = context.new_page()
        messages: list[str] = []
        pg.on("console", lambda msg: messages.append(msg.text))
        pg.goto("/upload")
        pg.evaluate(
            """document.body.insertAdjacentHTML('beforeend',
                 '<img id="probe" src="/static/missing.png" onerror="window.__ran = 1">')"""
        )
        pg.wait_for_function("() => document.getElementById('probe').complete")
        pg.wait_for_timeout(300)
        assert pg.evaluate("window.__ran") is None
        assert any("Content Security Policy" in m for m in messages), messages
    finally:
        context.close()


def test_sign_in_then_browse_and_upload_on_a_locked_registry(browser, tmp_path):
    """Reading and writing need tokens: the browser is sent to sign in, comes back to the
    page it asked for, and its uploads carry the cookie."""
    token = "w-" + "k" * 30
    data, db_url = tmp_path / "data", f"sqlite:///{tmp_path / 'locked.db'}"
    reg = start_registry(
        data, db_url, {"MODELPORT_WRITE_TOKENS": token, "MODELPORT_READ_TOKENS": "r-" + "q" * 30}
    )
    context = browser.new_context(base_url=reg.url)
    context.set_default_timeout(15_000)
    try:
        pg = context.new_page()
        pg.goto("/upload")
        pg.wait_for_url(re.compile(r"/signin\?next=%2Fupload$"))
        pg.get_by_label("Token").fill("not-the-token-at-all")
        pg.get_by_role("button", name="Sign in").click()
        expect()(pg.get_by_role("alert")).to_contain_text("not one this registry accepts")
        pg.get_by_label("Token").fill(token)
        pg.get_by_role("button", name="Sign in").click()
        pg.wait_for_url(re.compile(r"/upload$"))
        expect()(pg.get_by_role("link", name="Sign out")).to_be_visible()
        model = linear_model(tmp_path / "locked.onnx", n_in=3)
        pg.get_by_label("Model name").fill("locked-model")
        pg.locator("#file").set_input_files(str(model))
        pg.get_by_role("button", name="Upload").click()
        pg.wait_for_url(re.compile(r"/models/locked-model/versions/1$"))
        expect()(pg.locator("#version-status")).to_have_text("ready", timeout=60_000)
        pg.get_by_role("link", name="Sign out").click()
        pg.goto("/models/locked-model")
        pg.wait_for_url(re.compile(r"/signin\?next="))
    finally:
        context.close()
        stop_registry(reg)

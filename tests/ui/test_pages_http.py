"""The UI's page routes over plain HTTP (no browser): status codes, content, escaping."""

from __future__ import annotations

import html
import re

import pytest

from tests.ui.conftest import broken_onnx_model, push, wait_done

pytestmark = pytest.mark.ui

EVIL = "<script>alert('x')</script>{{7*7}}"


def rows(page: str) -> list[str]:
    """Model names of the rows in a models list page, in order."""
    return re.findall(r'<tr data-model="([^"]*)"', page)


def test_models_list_shows_latest_version_aliases_and_passed_formats(
    http, push_linear, unique_name
):
    push_linear(unique_name, description="demo model", tags={"team": "risk"})
    push_linear(unique_name, seed=1)
    assert (
        http.put(
            f"/api/v1/models/{unique_name}/aliases/production", json={"version": 1}
        ).status_code
        == 200
    )

    response = http.get("/", params={"q": unique_name})

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    row = response.text.split(f'<tr data-model="{unique_name}">')[1].split("</tr>")[0]
    assert f'href="/models/{unique_name}/versions/2">v2</a>' in row
    assert "status-ready" in row
    assert "@production" in row
    assert "onnx ✓" in row
    assert "team=risk" in row
    assert re.search(r'data-label="Versions" class="num">\s*2\s*<', row)


def test_search_matches_name_and_description_only(http, push_linear, unique_name):
    push_linear(unique_name, description="scores card payments")
    assert rows(http.get("/", params={"q": unique_name}).text) == [unique_name]
    assert unique_name in rows(http.get("/", params={"q": "CARD PAYMENTS"}).text)
    assert rows(http.get("/", params={"q": unique_name + "-nope"}).text) == []


def test_filters_by_tag_alias_framework_and_format(http, push_linear, unique_name):
    other = unique_name + "-b"
    push_linear(unique_name, tags={"team": "risk", "tier": "gold"})
    push_linear(other, tags={"team": "growth"})
    http.put(f"/api/v1/models/{other}/aliases/canary", json={"version": 1})

    def found(**params):
        return [n for n in rows(http.get("/", params={"q": unique_name, **params}).text)]

    assert found(tag="team=risk") == [unique_name]
    assert set(found(tag="team")) == {unique_name, other}
    assert found(tag="tier") == [unique_name]
    assert found(tag="team=nobody") == []
    assert found(alias="canary") == [other]
    assert set(found(framework="onnx")) == {unique_name, other}
    assert found(framework="torch") == []
    assert set(found(format="onnx")) == {unique_name, other}
    assert found(format="pmml") == []


def test_sort_by_versions_and_name_and_cursor_pages(http, push_linear, unique_name):
    names = [f"{unique_name}-{c}" for c in "abc"]
    push_linear(names[0], wait=False)
    push_linear(names[1], wait=False)
    push_linear(names[1], seed=1, wait=False)
    push_linear(names[2], wait=False)

    assert rows(http.get("/", params={"q": unique_name, "sort": "name"}).text) == names
    by_count = rows(http.get("/", params={"q": unique_name, "sort": "versions"}).text)
    assert by_count[0] == names[1]
    # newest first: the last one pushed is on top
    assert rows(http.get("/", params={"q": unique_name}).text)[0] == names[2]

    seen: list[str] = []
    url = f"/?q={unique_name}&sort=name&limit=1"
    while url:
        page = http.get(url).text
        seen += rows(page)
        nxt = re.search(r'href="([^"]+)" rel="next"', page)
        url = html.unescape(nxt.group(1)) if nxt else None
    assert seen == names


def test_empty_state_and_no_match_say_what_to_do(http):
    page = http.get("/", params={"q": "no-model-has-this-name-zzz"}).text
    assert "No models match" in page
    assert "Clear the filters" in page


@pytest.mark.parametrize(
    "url",
    [
        "/models/no-such-model",
        "/models/no-such-model/versions/1",
        "/models/bad%20name!",
        "/models/no-such-model/compare?a=1&b=2",
    ],
)
def test_unknown_model_is_an_html_404(http, url):
    response = http.get(url)
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "404" in response.text and "Back to the models" in response.text


def test_unknown_version_and_alias_are_html_404(http, shared_model):
    for url in (f"/models/{shared_model}/versions/7", f"/models/{shared_model}/versions/nope"):
        response = http.get(url)
        assert response.status_code == 404, url
        assert response.headers["content-type"].startswith("text/html")


def test_latest_and_alias_redirect_to_the_numbered_url(http, push_linear, unique_name):
    push_linear(unique_name, wait=False)
    push_linear(unique_name, seed=1, wait=False)
    http.put(f"/api/v1/models/{unique_name}/aliases/prod", json={"version": 1})
    latest = http.get(f"/models/{unique_name}/versions/latest")
    assert latest.status_code == 307
    assert latest.headers["location"] == f"/models/{unique_name}/versions/2"
    alias = http.get(f"/models/{unique_name}/versions/prod")
    assert alias.headers["location"] == f"/models/{unique_name}/versions/1"


@pytest.mark.parametrize("params", [{"sort": "bogus"}, {"cursor": "not-a-cursor"}, {"limit": "0"}])
def test_bad_list_query_is_an_html_400(http, params):
    response = http.get("/", params=params)
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("text/html")


def test_compare_without_versions_says_how(http, shared_model):
    response = http.get(f"/models/{shared_model}/compare")
    assert response.status_code == 400
    assert "compare?a=1&amp;b=2" in response.text


def test_user_strings_are_escaped_never_evaluated(http, push_linear, unique_name):
    push_linear(unique_name, description=EVIL, tags={"<script>": EVIL})
    pages = [
        http.get("/", params={"q": unique_name}).text,
        http.get(f"/models/{unique_name}").text,
        http.get(f"/models/{unique_name}/versions/1").text,
    ]
    for page in pages:
        assert "<script>alert" not in page
        assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in page
        assert "{{7*7}}" in page
        assert "&gt;49" not in page and "</script>49" not in page


def test_version_page_shows_report_lineage_and_commands(http, shared_model):
    unique_name = shared_model
    version = http.get(f"/api/v1/models/{unique_name}/versions/1").json()
    onnx = next(a for a in version["artifacts"] if a["format"] == "onnx")

    page = http.get(f"/models/{unique_name}/versions/1").text

    assert f"runtime.load(&#34;{unique_name}:1&#34;)" in page
    assert f"modelport pull {unique_name}:1" in page
    assert onnx["sha256"] in page
    assert f'href="/api/v1/models/{unique_name}/versions/1/artifacts/onnx"' in page
    assert 'data-output="y"' in page  # the per-output validation row
    assert 'class="errbar' in page
    # the named input sets, which ones decided, the extreme set's findings, the recipe
    assert 'data-set="in-domain"' in page and 'data-set="extreme"' in page
    assert "decided by in-domain + batch-1" in page
    assert 'data-finding="extreme/y"' in page and "agrees with the source" in page
    assert "Reproduce this conversion by hand" in page and "reproduce_onnx.py" in page
    report = onnx["validation"]
    assert report["decided_by"] == ["in-domain", "batch-1"]
    assert [s["role"] for s in report["sets"]] == ["decides", "decides", "reported"]
    assert report["recipe"]["script"] and report["findings"][0]["set"] == "extreme"
    assert "Source sha256" in page and version["source"]["sha256"] in page
    assert "onnx-passthrough" in page or "Converter" in page


def test_failed_conversion_shows_its_reason(http, tmp_path, unique_name):
    made = push(http, unique_name, broken_onnx_model(tmp_path / "broken.onnx"))
    body = wait_done(http, unique_name, made["version"])
    assert body["status"] == "failed"

    page = http.get(f"/models/{unique_name}/versions/1").text
    assert "Conversion failed." in page
    assert "inconsistent type" in page
    listing = http.get(f"/models/{unique_name}").text
    assert "status-failed" in listing and "inconsistent type" in listing


def test_compare_lists_signature_changes(http, shared_model):
    page = http.get(f"/models/{shared_model}/compare", params={"a": 1, "b": 2}).text
    changed = page.split('data-name="x"')[0].rsplit("<tr", 1)[1]
    assert "diff-changed" in changed
    assert "float32 [batch, 4]" in page and "float32 [batch, 6]" in page


def test_fragment_is_the_version_body_alone(http, shared_model):
    response = http.get(f"/models/{shared_model}/versions/1/fragment")
    assert response.status_code == 200
    assert "<html" not in response.text
    assert 'id="version-status"' in response.text
    assert response.headers["cache-control"] == "no-store"


def test_static_assets_are_a_fixed_list(http):
    css = http.get("/static/modelport.css")
    assert css.status_code == 200 and "prefers-color-scheme: dark" in css.text
    assert http.get("/static/modelport.js").status_code == 200
    for bad in ("/static/nope.css", "/static/..%2Froutes%2Fui.py", "/static/%2e%2e"):
        assert http.get(bad).status_code == 404, bad


def test_pages_reference_no_external_assets(http):
    for url in ("/", "/upload"):
        page = http.get(url).text
        assert not re.search(r'(src|href)="(https?:)?//', page), url


def test_pages_send_a_strict_content_security_policy(http):
    response = http.get("/upload")
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "unsafe-eval" not in policy
    assert "'unsafe-inline'" not in policy.split("style-src-attr")[0]
    assert response.headers["x-content-type-options"] == "nosniff"


def seed_versions(database_url: str, name: str, count: int) -> None:
    """Write ``count`` ready versions of ``name`` straight into the server's database."""
    from registry import Database
    from registry._orm import ArtifactRow, ModelRow, VersionRow

    db = Database(database_url)
    try:
        with db.write() as s:
            model = ModelRow(name=name, description="", tags={}, last_version=count)
            s.add(model)
            s.flush()
            for n in range(1, count + 1):
                v = VersionRow(
                    model_id=model.id,
                    version=n,
                    status="ready",
                    framework="onnx",
                    source_filename="m.onnx",
                    source_sha256=f"{n:064x}",
                    source_size=n,
                )
                s.add(v)
                s.flush()
                s.add(
                    ArtifactRow(
                        version_id=v.id, format="onnx", status="passed", sha256=f"{n:064x}", size=n
                    )
                )
    finally:
        db.dispose()


def test_versions_table_pages_through_many_versions(http, ui_registry, unique_name):
    seed_versions(ui_registry.database_url, unique_name, 55)
    first = http.get(f"/models/{unique_name}").text
    numbers = [int(n) for n in re.findall(r'<tr data-version="(\d+)"', first)]
    assert numbers == list(range(55, 5, -1))
    older = re.search(r'href="([^"]+)" rel="next">Older versions', first)
    assert older
    second = http.get(html.unescape(older.group(1))).text
    assert [int(n) for n in re.findall(r'<tr data-version="(\d+)"', second)] == [5, 4, 3, 2, 1]
    assert "Newest versions" in second
    assert re.search(
        r'data-label="Versions" class="num">\s*55\s*<',
        http.get("/", params={"q": unique_name}).text,
    )

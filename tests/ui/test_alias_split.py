"""The model page shows and edits a weighted alias (a canary split) in Chromium."""

from __future__ import annotations


def expect():
    from playwright.sync_api import expect as _expect

    return _expect


def test_split_an_alias_and_see_it(page, push_linear, unique_name, http):
    push_linear(unique_name, wait=False)
    push_linear(unique_name, seed=1, wait=False)
    page.goto(f"/models/{unique_name}")

    page.get_by_label("Split alias", exact=True).fill("production")
    page.get_by_label("Weights", exact=True).fill("1=90 2=10")
    page.get_by_role("button", name="Set split").click()
    cell = page.locator("tr[data-alias='production'] td[data-split]")
    expect()(cell).to_have_attribute("data-split", "1=90 2=10")
    expect()(cell).to_contain_text("v1 90%")
    expect()(cell).to_contain_text("v2 10%")
    doc = http.get(f"/api/v1/models/{unique_name}/aliases/production").json()
    assert doc["weights"] == {"1": 90, "2": 10} and doc["version"] == 1

    # moving the weights is one change in the alias's history
    page.get_by_label("Split alias", exact=True).fill("production")
    page.get_by_label("Weights", exact=True).fill("1=40 2=60")
    page.get_by_role("button", name="Set split").click()
    expect()(cell).to_have_attribute("data-split", "1=40 2=60")
    history = http.get(f"/api/v1/models/{unique_name}/aliases/production/history").json()
    assert [e["weights"] for e in history["items"]] == [{"1": 40, "2": 60}, {"1": 90, "2": 10}]


def test_a_bad_split_shows_the_servers_reason(page, shared_model, http):
    page.goto(f"/models/{shared_model}")
    page.get_by_label("Split alias", exact=True).fill("canary")
    page.get_by_label("Weights", exact=True).fill("1=90 2=20")
    page.get_by_role("button", name="Set split").click()
    expect()(page.locator("#alias-message")).to_contain_text("sum to 110")
    expect()(page.locator("#alias-message")).to_have_class("error-box")
    page.get_by_label("Weights", exact=True).fill("1=90 two")
    page.get_by_role("button", name="Set split").click()
    expect()(page.locator("#alias-message")).to_contain_text("VERSION=PERCENT")
    assert http.get(f"/api/v1/models/{shared_model}/aliases/canary").status_code == 404

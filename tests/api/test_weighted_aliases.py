"""Weighted aliases over real HTTP, on SQLite and PostgreSQL: set, read, move, audit."""

from __future__ import annotations

import pytest

from tests.api.conftest import assert_problem, upload, wait_done


@pytest.fixture
def three_versions(registry_client, unique_name, onnx_file):
    for _ in range(3):
        upload(registry_client, unique_name, onnx_file)
    wait_done(registry_client, unique_name, 3)
    return unique_name


def test_weighted_alias_roundtrip_and_history(registry_client, three_versions):
    name = three_versions
    base = f"/api/v1/models/{name}/aliases/production"
    plain = registry_client.put(base, json={"version": 1, "changed_by": "alice"})
    assert plain.status_code == 200, plain.text
    assert plain.json()["weights"] == {"1": 100} and plain.json()["version"] == 1

    body = {"weights": {"2": 90, "3": 10}, "changed_by": "bob", "note": "canary 3"}
    split = registry_client.put(base, json=body)
    assert split.status_code == 200, split.text
    doc = split.json()
    assert (doc["name"], doc["alias"], doc["version"]) == (name, "production", 2)
    assert doc["weights"] == {"2": 90, "3": 10} and doc["updated_at"]
    assert registry_client.get(base).json() == doc

    # the plain API reads the primary version; the model document shows every split
    assert registry_client.get(f"/api/v1/models/{name}/versions/production").json()["version"] == 2
    model = registry_client.get(f"/api/v1/models/{name}").json()
    assert model["aliases"] == {"production": 2}
    assert model["alias_weights"] == {"production": {"2": 90, "3": 10}}

    registry_client.put(base, json={"weights": {"2": 40, "3": 60}, "changed_by": "bob"})
    assert registry_client.get(base).json()["version"] == 3  # the larger weight leads
    assert registry_client.delete(base, params={"changed_by": "carol"}).status_code == 204

    history = registry_client.get(f"{base}/history").json()["items"]
    assert [(e["action"], e["weights"], e["previous"], e["changed_by"]) for e in history] == [
        ("delete", None, {"2": 40, "3": 60}, "carol"),
        ("set", {"2": 40, "3": 60}, {"2": 90, "3": 10}, "bob"),
        ("set", {"2": 90, "3": 10}, {"1": 100}, "bob"),
        ("set", {"1": 100}, None, "alice"),
    ]
    assert history[2]["note"] == "canary 3"
    assert len(registry_client.get(f"{base}/history", params={"limit": 1}).json()["items"]) == 1


@pytest.mark.parametrize(
    ("body", "status", "title"),
    [
        ({"weights": {"1": 90, "2": 20}}, 422, "InvalidWeights"),
        ({"weights": {"1": 90, "2": 0, "3": 10}}, 422, "InvalidWeights"),
        ({"weights": {"1": 100, "x": 0}}, 422, "InvalidWeights"),
        ({"weights": {}}, 422, "InvalidWeights"),
        ({"weights": {"1": 50, "2": 50}, "version": 1}, 422, "InvalidWeights"),
        ({"weights": {"1": 50.5, "2": 49.5}}, 422, "RequestValidationError"),
        ({"weights": {"1": True}}, 422, "RequestValidationError"),
        ({"weights": {"1": 50, "9": 50}}, 404, "VersionNotFound"),
        ({"weights": {str(i): 10 for i in range(1, 11)}}, 422, None),
        ({"weights": [1, 2]}, 422, "RequestValidationError"),
    ],
)
def test_bad_weights_change_nothing(registry_client, three_versions, body, status, title):
    base = f"/api/v1/models/{three_versions}/aliases/production"
    registry_client.put(base, json={"version": 1})
    assert_problem(registry_client.put(base, json=body), status, title)
    assert registry_client.get(base).json()["weights"] == {"1": 100}
    assert len(registry_client.get(f"{base}/history").json()["items"]) == 1


def test_missing_alias_reads_are_404(registry_client, three_versions):
    base = f"/api/v1/models/{three_versions}/aliases/nope"
    assert_problem(registry_client.get(base), 404, "AliasNotFound")
    assert_problem(registry_client.get(f"{base}/history"), 404, "AliasNotFound")
    assert_problem(registry_client.get("/api/v1/models/no-such-xyz/aliases/prod"), 404)

"""The page routes on both database backends (the shared ``live_registry`` servers)."""

from __future__ import annotations

import re

import pytest

from tests.factories.onnx_models import linear_model
from tests.ui.conftest import push, wait_done

pytestmark = pytest.mark.ui


def test_list_filters_and_version_page(registry_client, tmp_path, unique_name):
    for seed in (0, 1):
        made = push(
            registry_client,
            unique_name,
            linear_model(tmp_path / f"{seed}.onnx", seed=seed),
            tags={"team": "risk"},
        )
    assert wait_done(registry_client, unique_name, made["version"])["status"] == "ready"
    registry_client.put(f"/api/v1/models/{unique_name}/aliases/prod", json={"version": 1})

    for params in (
        {"tag": "team=risk"},
        {"alias": "prod"},
        {"format": "onnx"},
        {"framework": "onnx", "sort": "versions"},
        {"sort": "name"},
    ):
        page = registry_client.get("/", params={"q": unique_name, **params})
        assert page.status_code == 200, params
        assert re.findall(r'<tr data-model="([^"]*)"', page.text) == [unique_name], params

    version = registry_client.get(f"/models/{unique_name}/versions/2")
    assert version.status_code == 200
    assert 'data-output="y"' in version.text
    stages = re.search(r'<td class="stages">([^<]*)</td>', version.text)
    assert stages is not None, "the version page shows the job's stage timings"
    named = [part.split()[0] for part in stages.group(1).split(" · ")]
    assert named == ["queue", "prepare", "fork", "load", "convert", "validate", "store"]
    compare = registry_client.get(f"/models/{unique_name}/compare", params={"a": 1, "b": 2})
    assert compare.status_code == 200


def test_out_of_range_version_numbers_are_404_pages(registry_client, tmp_path, unique_name):
    push(registry_client, unique_name, linear_model(tmp_path / "m.onnx"))
    huge = "9" * 30
    for url in (
        f"/models/{unique_name}/versions/{huge}",
        f"/models/{unique_name}/versions/{huge}/fragment",
        f"/models/{unique_name}/compare?a=1&b={huge}",
    ):
        response = registry_client.get(url)
        assert response.status_code == 404, url
        assert response.headers["content-type"].startswith("text/html"), url

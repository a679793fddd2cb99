from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from tests.factories.onnx_models import linear_model


@pytest.fixture
def onnx_file(tmp_path: Path) -> Path:
    return linear_model(tmp_path / "lin.onnx")


def upload(client: httpx.Client, name: str, path: Path, **fields) -> httpx.Response:
    files = {"file": (path.name, path.read_bytes(), "application/octet-stream")}
    if "sample" in fields:
        files["sample"] = fields.pop("sample")
    return client.post(f"/api/v1/models/{name}/versions", files=files, data=fields)


def wait_done(client: httpx.Client, name: str, version: int, timeout: float = 90) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = client.get(f"/api/v1/models/{name}/versions/{version}").json()
        if body["status"] in ("ready", "failed"):
            return body
        time.sleep(0.1)
    raise AssertionError(f"{name}:{version} still {body['status']} after {timeout}s")


def assert_problem(resp: httpx.Response, status: int, title: str | None = None) -> dict:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json"), resp.headers
    body = resp.json()
    assert {"type", "title", "status", "detail", "instance"} <= set(body)
    assert body["status"] == status
    assert body["type"] == f"/problems/{body['title']}"
    assert body["detail"]
    if title is not None:
        assert body["title"] == title, body
    return body

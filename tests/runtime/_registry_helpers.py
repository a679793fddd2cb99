"""Pushing tiny models to a real registry over HTTP, for the runtime's registry tests."""

from __future__ import annotations

import time
from pathlib import Path

import httpx


def push(client: httpx.Client, name: str, path: Path, timeout: float = 120) -> dict:
    """Upload ``path`` as a new version of ``name`` and wait until the job finishes."""
    with path.open("rb") as fh:
        resp = client.post(
            f"/api/v1/models/{name}/versions",
            files={"file": (path.name, fh, "application/octet-stream")},
        )
    assert resp.status_code == 202, resp.text
    version = resp.json()["version"]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = client.get(f"/api/v1/models/{name}/versions/{version}").json()
        if body["status"] in ("ready", "failed"):
            assert body["status"] == "ready", body
            return body
        time.sleep(0.1)
    raise AssertionError(f"{name}:{version} not ready after {timeout}s")


def set_alias(client: httpx.Client, name: str, alias: str, version: int) -> None:
    resp = client.put(f"/api/v1/models/{name}/aliases/{alias}", json={"version": version})
    assert resp.status_code == 200, resp.text


def artifact(doc: dict, fmt: str = "onnx") -> dict:
    return next(a for a in doc["artifacts"] if a["format"] == fmt)

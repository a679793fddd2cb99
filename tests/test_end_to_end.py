"""The newcomer's path, end to end over real HTTP: push an ONNX model to a running
registry, wait for its job, then ``runtime.load("name:1").predict(x)`` gives exactly
what raw onnxruntime gives on the same file."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort

import runtime
from tests.factories.onnx_models import linear_model


def _wait_ready(client, name: str, version: int, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = client.get(f"/api/v1/models/{name}/versions/{version}").json()
        if body["status"] in ("ready", "failed"):
            return body
        time.sleep(0.2)
    raise AssertionError(f"{name}:{version} not ready after {timeout}s")


def test_push_then_runtime_load_matches_raw_onnxruntime(
    live_registry, registry_client, unique_name, tmp_path: Path
):
    model_path = linear_model(tmp_path / "lin.onnx", n_in=4, n_out=3, seed=7)
    with model_path.open("rb") as fh:
        resp = registry_client.post(
            f"/api/v1/models/{unique_name}/versions",
            files={"file": ("lin.onnx", fh, "application/octet-stream")},
        )
    assert resp.status_code == 202, resp.text
    accepted = resp.json()
    assert accepted["version"] == 1

    version = _wait_ready(registry_client, unique_name, 1)
    assert version["status"] == "ready", version
    onnx_art = next(a for a in version["artifacts"] if a["format"] == "onnx")
    assert onnx_art["status"] == "passed"
    assert onnx_art["sha256"] == hashlib.sha256(model_path.read_bytes()).hexdigest()

    x = np.random.default_rng(1).standard_normal((5, 4)).astype(np.float32)
    raw = ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
    expected = raw.run(None, {"x": x})[0]

    model = runtime.load(
        f"{unique_name}:1", registry=live_registry.url, cache_dir=tmp_path / "cache"
    )
    np.testing.assert_array_equal(model.predict(x), expected)
    assert model.info.sha256 == onnx_art["sha256"]
    assert model.info.version == 1

"""Per-upload converter options over real HTTP: TorchScript shapes the server cannot
infer come from the uploader; bad options are refused before any version exists."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import runtime
from tests.api.conftest import assert_problem, upload, wait_done


def _flatten_first_script(path: Path) -> Path:
    """A TorchScript module whose forward flattens a [batch, 2, 3] input before a
    Linear(6, 2): its first layer says nothing about the input's shape."""
    import torch

    class Flat(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = torch.nn.Linear(6, 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.fc(x.reshape(x.shape[0], 6))

    torch.manual_seed(0)
    torch.jit.script(Flat().eval()).save(str(path))
    return path


@pytest.mark.slow
def test_torchscript_with_input_shapes_option_converts(
    live_registry, registry_client, unique_name, tmp_path: Path
):
    import torch

    script = _flatten_first_script(tmp_path / "flat.pt")
    options = {"input_names": ["x"], "input_shapes": {"x": [None, 2, 3]}}
    resp = upload(
        registry_client,
        unique_name,
        script,
        framework="torch",
        targets="onnx",
        options=json.dumps(options),
    )
    assert resp.status_code == 202, resp.text
    body = wait_done(registry_client, unique_name, resp.json()["version"], timeout=180)
    assert body["status"] == "ready", body
    assert body["options"] == options and body["targets"] == ["onnx"]
    onnx_art = next(a for a in body["artifacts"] if a["format"] == "onnx")
    assert onnx_art["status"] == "passed", onnx_art

    x = np.random.default_rng(3).standard_normal((4, 2, 3)).astype(np.float32)
    model = runtime.load(
        f"{unique_name}:{resp.json()['version']}",
        registry=live_registry.url,
        cache_dir=tmp_path / "cache",
    )
    expected = torch.jit.load(str(script))(torch.from_numpy(x)).detach().numpy()
    np.testing.assert_allclose(model.predict(x), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_torchscript_without_options_fails_cleanly(registry_client, unique_name, tmp_path):
    script = _flatten_first_script(tmp_path / "flat.pt")
    resp = upload(registry_client, unique_name, script, framework="torch", targets="onnx")
    assert resp.status_code == 202, resp.text
    body = wait_done(registry_client, unique_name, resp.json()["version"], timeout=180)
    # Without the shapes the job fails (the version is kept, marked failed, with an error).
    assert body["status"] == "failed", body
    assert "input_shapes" in body["error"], body["error"]


@pytest.mark.parametrize(
    ("raw", "needle"),
    [
        ("{not json", "not valid JSON"),
        ('["input_shapes"]', "must be a JSON object"),
        ('{"opset": 17}', "'opset'"),
        ('{"allow_pickle": true}', "'allow_pickle'"),
        ('{"input_shapes": [1, 2]}', "input_shapes"),
        (json.dumps({"input_names": ["x" * 100] * 200}), "16 KiB"),
    ],
)
def test_bad_options_are_refused_and_create_no_version(
    registry_client, unique_name, onnx_file, raw, needle
):
    resp = upload(registry_client, unique_name, onnx_file, options=raw)
    body = assert_problem(resp, 422, "InvalidUpload")
    assert needle in body["detail"], body["detail"]
    if "unknown" in body["detail"]:
        assert (
            "input_names, input_shapes, input_dtypes, output_names, dynamic_axes"
            in (body["detail"])
        )
    assert registry_client.get(f"/api/v1/models/{unique_name}").status_code == 404

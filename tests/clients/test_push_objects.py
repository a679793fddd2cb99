"""Pushing in-memory models: the SDK saves them in the safe format of their framework."""

from __future__ import annotations

import numpy as np
import pytest

import runtime
from clients import PushResult
from tests.clients.conftest import WAIT_S


def _xy(n: int = 40, d: int = 4):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, d)).astype(np.float32)
    return x, (x[:, 0] + x[:, 1] > 0).astype(np.int64)


def test_fitted_sklearn_estimator_is_pushed_as_skops(reg, unique_name, tmp_path):
    from sklearn.linear_model import LogisticRegression

    x, y = _xy()
    model = LogisticRegression().fit(x, y)
    result = reg.push(model, unique_name, sample=x[:8], targets=["onnx"])
    assert isinstance(result, PushResult)
    assert result.version == 1
    info = reg.wait(unique_name, 1, timeout=WAIT_S)
    assert info.framework == "sklearn"
    assert info.source.filename == "model.skops"
    assert info.status == "ready", info.to_dict()
    loaded = runtime.load(f"{unique_name}:1", registry=reg.url, format="onnx", cache_dir=tmp_path)
    np.testing.assert_array_equal(np.asarray(loaded.predict(x)).reshape(-1), model.predict(x))


@pytest.mark.slow
def test_torch_module_is_pushed_as_an_exported_program(reg, unique_name, tmp_path):
    import torch

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    result = reg.push(model, unique_name, example_inputs=(torch.randn(2, 4),))
    assert isinstance(result, PushResult)
    info = reg.wait(unique_name, result.version, timeout=WAIT_S * 2)
    assert info.framework == "torch"
    assert info.source.filename == "model.pt2"
    assert info.status == "ready", info.to_dict()
    loaded = runtime.load(f"{unique_name}:1", registry=reg.url, cache_dir=tmp_path)
    x = torch.randn(5, 4)  # another batch size than the example's: the batch axis is dynamic
    with torch.no_grad():
        expected = model(x).numpy()
    np.testing.assert_allclose(loaded.predict(x.numpy()), expected, rtol=1e-4, atol=1e-5)


@pytest.mark.slow
def test_push_torchscript_file_with_options(reg, unique_name, tmp_path):
    import torch

    class Flat(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = torch.nn.Linear(6, 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.fc(x.reshape(x.shape[0], 6))

    torch.manual_seed(0)
    path = tmp_path / "flat.pt"
    torch.jit.script(Flat().eval()).save(str(path))
    info = reg.push(
        path,
        unique_name,
        framework="torch",
        targets="onnx",
        options={"input_shapes": {"x": [None, 2, 3]}},
        wait=True,
        timeout=WAIT_S,
    )
    assert info.status == "ready", info
    assert info.artifact("onnx").status == "passed"


def test_push_refuses_options_that_are_not_a_dict(reg, unique_name, onnx_file):
    from runtime.errors import InvalidUpload

    with pytest.raises(InvalidUpload, match="options must be a dict"):
        reg.push(onnx_file, unique_name, options=["input_shapes"])  # type: ignore[arg-type]


def test_push_sends_options_and_the_server_refuses_unknown_keys(reg, unique_name, onnx_file):
    from runtime.errors import InvalidUpload

    with pytest.raises(InvalidUpload, match="allow_pickle"):
        reg.push(onnx_file, unique_name, options={"allow_pickle": True})

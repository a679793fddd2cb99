"""An uploaded sample decides the shapes a TorchScript module is traced with."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from converters import REQUEST_FILE, WorkerRequest
from converters._worker import run_job

torch = pytest.importorskip("torch")


def test_torchscript_sample_decides_the_traced_shapes(tmp_path: Path) -> None:
    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(1),
        torch.nn.Flatten(),
        torch.nn.Linear(4, 2),
    ).eval()
    (tmp_path / "input").mkdir()
    torch.jit.save(torch.jit.script(net), str(tmp_path / "input" / "cnn.pt"))
    x = np.random.default_rng(0).standard_normal((4, 3, 64, 64)).astype(np.float32)
    np.savez(tmp_path / "input" / "sample.npz", x=x)
    request = WorkerRequest(
        source="input/cnn.pt",
        filename="cnn.pt",
        framework="torch",
        targets=("onnx",),
        sample="input/sample.npz",
    )
    (tmp_path / REQUEST_FILE).write_text(request.to_json())
    result = run_job(tmp_path).to_dict()
    assert result["error"] is None, result["error"]
    assert result["signature"]["inputs"][0]["shape"][1:] == [3, 64, 64]
    (art,) = result["artifacts"]
    assert art["status"] == "passed", art["error"]
    sets = {s["name"]: s for s in art["validation"]["sets"]}
    assert sets["sample"]["rows"] == 4 and "sample's range" in sets["in-domain"]["origin"]

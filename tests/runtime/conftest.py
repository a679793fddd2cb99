from __future__ import annotations

from pathlib import Path

import pytest

from tests.factories import runtime_models
from tests.factories.onnx_models import linear_model


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("runtime-models")


@pytest.fixture(scope="session")
def linear_path(model_dir: Path) -> Path:
    return linear_model(model_dir / "linear.onnx", n_in=4, n_out=2, seed=3)


@pytest.fixture(scope="session")
def classifier_path(model_dir: Path) -> Path:
    return runtime_models.classifier_model(model_dir / "clf.onnx")


@pytest.fixture(scope="session")
def two_input_path(model_dir: Path) -> Path:
    return runtime_models.two_input_model(model_dir / "two.onnx")


@pytest.fixture(scope="session")
def mlp_path(model_dir: Path) -> Path:
    return runtime_models.mlp_model(model_dir / "mlp.onnx", n_in=16, hidden=32, n_out=3)


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test reads or writes the user's real cache or registry settings."""
    monkeypatch.setenv("MODELPORT_CACHE", str(tmp_path / "default-cache"))
    for var in ("MODELPORT_URL", "MODELPORT_TOKEN", "MODELPORT_CACHE_MAX", "MODELPORT_HOME"):
        monkeypatch.delenv(var, raising=False)

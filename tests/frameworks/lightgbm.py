"""Tiny LightGBM models saved as text model files (``Booster.save_model``), no pickle."""

from __future__ import annotations

from pathlib import Path

from tests.frameworks._boosting_data import sample, xy
from tests.frameworks._cases import FrameworkCase

IMPORTS = ("lightgbm", "onnxmltools")
BOTH = {"onnx": "passed", "pmml": "passed"}


def _save(model, folder: Path, name: str) -> Path:
    path = folder / f"{name}.txt"
    model.booster_.save_model(str(path))
    return path


def _multi(folder: Path) -> Path:
    import lightgbm as lgb

    x, y = xy(classes=3)
    model = lgb.LGBMClassifier(n_estimators=6, num_leaves=7, min_child_samples=5, verbose=-1)
    return _save(model.fit(x, y), folder, "multiclass")


def _binary(folder: Path) -> Path:
    import lightgbm as lgb

    x, y = xy()
    model = lgb.LGBMClassifier(n_estimators=6, num_leaves=7, min_child_samples=5, verbose=-1)
    return _save(model.fit(x, y), folder, "binary")


def _regressor(folder: Path) -> Path:
    import lightgbm as lgb

    x, y = xy(classes=0)
    model = lgb.LGBMRegressor(n_estimators=6, num_leaves=7, min_child_samples=5, verbose=-1)
    return _save(model.fit(x, y), folder, "regressor")


def _skops_pipeline(folder: Path) -> Path:
    """StandardScaler + LGBMClassifier saved with skops (wrapper and booster allow-listed)."""
    import lightgbm as lgb
    import skops.io as sio
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x, y = xy(classes=3)
    model = lgb.LGBMClassifier(n_estimators=6, num_leaves=7, min_child_samples=5, verbose=-1)
    path = folder / "lgbm-pipeline.skops"
    sio.dump(make_pipeline(StandardScaler(), model).fit(x, y), path)
    return path


CASES = [
    FrameworkCase("lightgbm-multiclass", "lightgbm", _multi, sample=sample, expect=BOTH),
    FrameworkCase("lightgbm-binary", "lightgbm", _binary, expect=BOTH, slow=True),
    FrameworkCase("lightgbm-regressor", "lightgbm", _regressor, expect=BOTH, slow=True),
    FrameworkCase("sklearn-pipeline-lightgbm", "sklearn", _skops_pipeline, expect=BOTH, slow=True),
]

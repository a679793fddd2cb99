"""Tiny CatBoost models saved as ``.cbm`` files, no pickle. PMML is not registered:
sklearn2pmml has no CatBoost converter."""

from __future__ import annotations

from pathlib import Path

from tests.frameworks._boosting_data import sample, xy
from tests.frameworks._cases import FrameworkCase

IMPORTS = ("catboost",)
ONNX = {"onnx": "passed"}


def _fit(model, classes: int, folder: Path, name: str) -> Path:
    x, y = xy(classes=classes)
    model.fit(x, y)
    path = folder / f"{name}.cbm"
    model.save_model(str(path))
    return path


def _multi(folder: Path) -> Path:
    from catboost import CatBoostClassifier

    model = CatBoostClassifier(
        iterations=8, depth=3, verbose=0, random_seed=0, thread_count=1, allow_writing_files=False
    )
    return _fit(model, 3, folder, "multiclass")


def _binary(folder: Path) -> Path:
    from catboost import CatBoostClassifier

    model = CatBoostClassifier(
        iterations=8, depth=3, verbose=0, random_seed=0, thread_count=1, allow_writing_files=False
    )
    return _fit(model, 2, folder, "binary")


def _regressor(folder: Path) -> Path:
    from catboost import CatBoostRegressor

    model = CatBoostRegressor(
        iterations=8, depth=3, verbose=0, random_seed=0, thread_count=1, allow_writing_files=False
    )
    return _fit(model, 0, folder, "regressor")


CASES = [
    FrameworkCase("catboost-multiclass", "catboost", _multi, sample=sample, expect=ONNX),
    FrameworkCase("catboost-binary", "catboost", _binary, expect=ONNX, slow=True),
    FrameworkCase("catboost-regressor", "catboost", _regressor, expect=ONNX, slow=True),
]

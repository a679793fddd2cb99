"""Tiny XGBoost models saved with ``Booster.save_model`` (JSON and UBJSON), no pickle."""

from __future__ import annotations

from pathlib import Path

from tests.frameworks._boosting_data import sample, training_rows, xy
from tests.frameworks._cases import FrameworkCase

IMPORTS = ("xgboost", "onnxmltools")
BOTH = {"onnx": "passed", "pmml": "passed"}


def _binary_json(folder: Path) -> Path:
    import xgboost as xgb

    x, y = xy()
    model = xgb.XGBClassifier(n_estimators=8, max_depth=3, random_state=0).fit(x, y)
    path = folder / "binary.json"
    model.get_booster().save_model(path)
    return path


def _multi_ubj(folder: Path) -> Path:
    import xgboost as xgb

    x, y = xy(classes=3)
    model = xgb.XGBClassifier(n_estimators=6, max_depth=3, random_state=0).fit(x, y)
    path = folder / "multi.ubj"
    model.save_model(path)
    return path


def _regressor(folder: Path) -> Path:
    import xgboost as xgb

    x, y = xy(classes=0)
    model = xgb.XGBRegressor(n_estimators=8, max_depth=3, random_state=0).fit(x, y)
    path = folder / "regressor.json"
    model.save_model(path)
    return path


def _skops_pipeline(folder: Path) -> Path:
    """StandardScaler + XGBClassifier saved with skops: the wrapper and its booster are
    on the trust allow-list; the booster's state is XGBoost's own model buffer."""
    import skops.io as sio
    import xgboost as xgb
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x, y = xy(classes=3)
    model = xgb.XGBClassifier(n_estimators=6, max_depth=3, random_state=0)
    path = folder / "xgb-pipeline.skops"
    sio.dump(make_pipeline(StandardScaler(), model).fit(x, y), path)
    return path


def _ties_sample() -> dict:
    return training_rows(classes=0)


CASES = [
    FrameworkCase("xgboost-binary-json", "xgboost", _binary_json, sample=sample, expect=BOTH),
    FrameworkCase("xgboost-multiclass-ubj", "xgboost", _multi_ubj, expect=BOTH, slow=True),
    FrameworkCase("xgboost-regressor", "xgboost", _regressor, expect=BOTH, slow=True),
    FrameworkCase("sklearn-pipeline-xgboost", "sklearn", _skops_pipeline, expect=BOTH, slow=True),
    # Known drift: XGBoost's histogram splits sit on training values and send a tie
    # right in float32; the PMML (JPMML-XGBoost, double thresholds) sends some of them
    # left. On the training rows the PMML artifact must be failed, the ONNX one passed.
    FrameworkCase(
        "xgboost-pmml-threshold-ties",
        "xgboost",
        _regressor,
        sample=_ties_sample,
        expect={"onnx": "passed", "pmml": "failed"},
        slow=True,
    ),
]

"""scikit-learn -> ONNX/PMML on the known quirks of this stack (run through the worker)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from converters import REQUEST_FILE, WorkerRequest
from converters._domain import DOMAIN_ROWS
from converters._worker import run_job

pytest.importorskip("skl2onnx")


def _xy(n: int = 100):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, 4))
    return x, (x[:, 0] + x[:, 1] > 0).astype(int)


def _run(tmp_path: Path, est, targets=("onnx",)) -> dict:
    import skops.io as sio

    (tmp_path / "input").mkdir()
    sio.dump(est, tmp_path / "input" / "m.skops")
    request = WorkerRequest(
        source="input/m.skops", filename="m.skops", framework="sklearn", targets=tuple(targets)
    )
    (tmp_path / REQUEST_FILE).write_text(request.to_json())
    return run_job(tmp_path).to_dict()


def _estimators():
    from sklearn.discriminant_analysis import QuadraticDiscriminantAnalysis
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
    from sklearn.linear_model import RidgeClassifier
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import LinearSVC

    return {
        "qda-label-shape": QuadraticDiscriminantAnalysis,
        "hgb-bool-attribute": lambda: HistGradientBoostingClassifier(max_iter=5),
        "hgb-regressor-1d": lambda: HistGradientBoostingRegressor(max_iter=5),
        "linearsvc-no-proba": LinearSVC,
        "ridge-classifier-no-proba": RidgeClassifier,
        "standalone-transformer": StandardScaler,
    }


@pytest.mark.parametrize("name", list(_estimators()))
def test_quirk_is_handled(tmp_path: Path, name: str) -> None:
    x, y = _xy()
    est = _estimators()[name]()
    est.fit(x, x[:, 0] if "regressor" in name else y)
    (art,) = _run(tmp_path, est)["artifacts"]
    assert art["status"] == "passed", art["error"]
    outputs = [o["name"] for o in art["signature"]["outputs"]]
    if "no-proba" in name:
        assert outputs[0] == "label" and "probabilities" not in outputs
        assert [o["name"] for o in art["validation"]["outputs"]] == ["label"]
    if "label-shape" in name or "regressor" in name:
        assert art["validation"]["outputs"][0]["shape"] == [DOMAIN_ROWS]


def test_ignored_threshold_is_reported_not_hidden(tmp_path: Path) -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import TunedThresholdClassifierCV

    x, y = _xy()
    est = TunedThresholdClassifierCV(LogisticRegression(), cv=3).fit(x, y)
    (art,) = _run(tmp_path, est)["artifacts"]
    assert art["status"] == "failed"
    label = next(o for o in art["validation"]["outputs"] if o["name"] == "label")
    assert label["mismatches"] > 0 and not label["passed"]
    assert (tmp_path / art["path"]).exists(), "a failed artifact is kept for inspection"


def test_estimator_without_converter_is_a_clear_artifact_error(tmp_path: Path) -> None:
    from sklearn.semi_supervised import LabelSpreading

    x, y = _xy()
    (art,) = _run(tmp_path, LabelSpreading().fit(x, y))["artifacts"]
    assert art["status"] == "error"
    assert art["error"].startswith("skl2onnx failed") and "LabelSpreading" in art["error"]


def test_pmml_without_java_is_skipped_not_a_failed_upload(tmp_path: Path, monkeypatch) -> None:
    from sklearn.linear_model import LogisticRegression

    monkeypatch.setenv("PATH", str(tmp_path / "no-java-here"))
    x, y = _xy()
    result = _run(tmp_path, LogisticRegression().fit(x, y), targets=("onnx", "pmml"))
    by_format = {a["format"]: a for a in result["artifacts"]}
    assert by_format["onnx"]["status"] == "passed"
    assert by_format["pmml"]["status"] == "skipped"
    assert "Java" in by_format["pmml"]["error"]


def test_classifier_outputs_are_meaningful_and_probabilities_a_tensor(tmp_path: Path) -> None:
    from sklearn.linear_model import LogisticRegression

    x, y = _xy()
    (art,) = _run(tmp_path, LogisticRegression().fit(x, y))["artifacts"]
    outs = {o["name"]: o for o in art["signature"]["outputs"]}
    assert list(outs) == ["label", "probabilities"]
    assert outs["probabilities"]["dtype"] == "float32"
    assert len(outs["probabilities"]["shape"]) == 2
    assert art["converter"]["name"] == "skl2onnx"
    assert {"skl2onnx", "scikit-learn"} <= set(art["converter"]["versions"])
    assert art["converter"]["opset"] == 18

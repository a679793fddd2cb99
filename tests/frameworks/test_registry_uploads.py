"""XGBoost, LightGBM, CatBoost and a tiny transformers checkpoint over real HTTP:
upload -> ready -> ``runtime.load(ref)`` -> the same predictions as the library itself
(on the PostgreSQL-backed registry)."""

from __future__ import annotations

import uuid
from pathlib import Path

import numpy as np
import pytest

import runtime
from tests.frameworks import catboost as catboost_cases
from tests.frameworks import lightgbm as lightgbm_cases
from tests.frameworks import transformers as transformers_cases
from tests.frameworks import xgboost as xgboost_cases
from tests.frameworks._boosting_data import sample
from tests.frameworks.conftest import import_or_skip
from tests.runtime._registry_helpers import artifact, push

# conversions do not depend on the database or the blob store: one setup (PostgreSQL)
# keeps these four real conversions off the other setups' bill
pytestmark = [
    pytest.mark.slow,
    pytest.mark.parametrize("live_registry", ["postgresql"], indirect=True),
]
X = sample(rows=12, seed=5)["X"]


def _statuses(doc: dict) -> dict[str, str]:
    return {a["format"]: a["status"] for a in doc["artifacts"] if a["format"] != "source"}


def _load(live_registry, name: str, tmp_path: Path, fmt: str | None = None):
    return runtime.load(
        f"{name}:1", registry=live_registry.url, cache_dir=tmp_path / "cache", format=fmt
    )


def _push(live_registry, path: Path, timeout: float = 300) -> tuple[str, dict]:
    name = f"{path.stem.replace('.', '-')}-{uuid.uuid4().hex[:8]}"
    with live_registry.client() as client:
        return name, push(client, name, path, timeout=timeout)


def test_xgboost_json_upload_serves_its_predictions(live_registry, tmp_path) -> None:
    xgb = import_or_skip("xgboost")
    path = xgboost_cases._binary_json(tmp_path)
    name, doc = _push(live_registry, path)
    assert doc["framework"] == "xgboost"
    assert _statuses(doc) == {"onnx": "passed", "pmml": "passed"}
    booster = xgb.Booster(model_file=str(path))
    expected = booster.predict(xgb.DMatrix(X))
    model = _load(live_registry, name, tmp_path)
    np.testing.assert_allclose(model.predict_proba(X)[:, 1], expected, atol=1e-5)
    np.testing.assert_array_equal(model.predict(X), (expected > 0.5).astype(np.int64))
    assert artifact(doc, "pmml")["validation"]["status"] == "passed"


def test_lightgbm_text_upload_serves_its_predictions(live_registry, tmp_path) -> None:
    lgb = import_or_skip("lightgbm")
    path = lightgbm_cases._multi(tmp_path)
    name, doc = _push(live_registry, path)
    assert doc["framework"] == "lightgbm"
    assert _statuses(doc) == {"onnx": "passed", "pmml": "passed"}
    expected = lgb.Booster(model_file=str(path)).predict(X)
    for fmt in ("onnx", "pmml"):
        model = _load(live_registry, name, tmp_path / fmt, fmt)
        np.testing.assert_allclose(model.predict_proba(X), expected, atol=1e-5)
        np.testing.assert_array_equal(model.predict(X), expected.argmax(axis=1))


def test_catboost_cbm_upload_serves_its_predictions(live_registry, tmp_path) -> None:
    cb = import_or_skip("catboost")
    path = catboost_cases._multi(tmp_path)
    name, doc = _push(live_registry, path)
    assert doc["framework"] == "catboost"
    assert _statuses(doc) == {"onnx": "passed"}
    native = cb.CatBoost()
    native.load_model(str(path))
    expected = native.predict(X, prediction_type="Probability")
    model = _load(live_registry, name, tmp_path)
    np.testing.assert_allclose(model.predict_proba(X), expected, atol=1e-5)


def test_transformers_checkpoint_runs_on_sentences_with_onnxruntime_alone(
    live_registry, tmp_path
) -> None:
    transformers = import_or_skip("transformers")
    torch = import_or_skip("torch")
    import_or_skip("onnxruntime_extensions")
    path = transformers_cases.zipped(tmp_path)
    name, doc = _push(live_registry, path)
    assert doc["framework"] == "transformers"
    assert _statuses(doc) == {"onnx": "passed"}
    assert artifact(doc)["converter"]["tokenizer_in_graph"] is True

    model = _load(live_registry, name, tmp_path)
    assert model.input_names == ["text"]
    sentences = ["the cat sat on the mat", "a very small model runs here with words"]
    got = model.predict(sentences)

    root = tmp_path / "tiny-bert"
    tokenizer = transformers.AutoTokenizer.from_pretrained(root)
    net = transformers.AutoModelForSequenceClassification.from_pretrained(root).eval()
    with torch.no_grad():
        expected = net(**tokenizer(sentences, padding=True, return_tensors="pt")).logits.numpy()
    np.testing.assert_allclose(got, expected, atol=1e-4, rtol=1e-3)
    one = model.predict(["a sentence"])
    assert one.shape == (1, 3)
    # the tokenizer files travel with the version
    folder = Path(model.info.path)
    folder = folder if folder.is_dir() else folder.parent
    assert (folder / "tokenizer" / "tokenizer_config.json").is_file() or any(
        folder.rglob("tokenizer_config.json")
    )

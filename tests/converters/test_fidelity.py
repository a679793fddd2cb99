"""One regression test per class of fidelity loss the registry had over its converters,
each on a real fitted model run through the worker's job code (real skl2onnx,
sklearn2pmml, onnxruntime and pypmml)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

import runtime
from converters import detect_framework
from runtime.errors import InvalidUpload
from tests.converters._jobs import by_format, run_sklearn

pytest.importorskip("skl2onnx")
needs_java = pytest.mark.skipif(shutil.which("java") is None, reason="PMML needs Java")


def _x(n: int = 120, d: int = 4, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, d))


def _sets(art: dict) -> dict[str, dict]:
    return {s["name"]: s for s in art["validation"]["sets"]}


# -- validation inputs inside the model's domain ---------------------------------------


@pytest.mark.slow
@needs_java
def test_scaled_multinomial_logreg_passes_pmml_and_reports_the_overflow(tmp_path: Path) -> None:
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x, y = load_iris(return_X_y=True)
    est = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(x, y)
    arts = by_format(run_sklearn(tmp_path, est, targets=("onnx", "pmml")))
    assert arts["onnx"]["status"] == "passed" and arts["pmml"]["status"] == "passed"
    pmml = arts["pmml"]["validation"]
    assert pmml["decided_by"] == ["in-domain", "batch-1"]
    assert "StandardScaler" in _sets(arts["pmml"])["in-domain"]["origin"]
    diverging = {f["output"]: f for f in pmml["findings"] if f["status"] == "diverges"}
    assert "softmax overflows" in diverging["probabilities"]["explanation"]
    assert _sets(arts["pmml"])["extreme"]["status"] == "diverges"  # reported, never hidden
    assert "diverges on the extreme set" in pmml["summary"]


@pytest.mark.parametrize("case", ["onehot", "categorical-nb", "poisson", "ridge-clf"])
def test_models_with_a_narrow_domain_pass(tmp_path: Path, case: str) -> None:
    from sklearn.linear_model import PoissonRegressor, RidgeClassifier
    from sklearn.naive_bayes import CategoricalNB
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    rng = np.random.default_rng(0)
    codes = rng.integers(0, 4, size=(120, 3)).astype(np.float64)
    y = (codes[:, 0] + codes[:, 1] > 3).astype(int)
    est = {
        "onehot": lambda: make_pipeline(OneHotEncoder(), RidgeClassifier()).fit(codes, y),
        "categorical-nb": lambda: CategoricalNB().fit(codes, y),
        "poisson": lambda: PoissonRegressor().fit(_x(), rng.poisson(2.0, 120)),
        "ridge-clf": lambda: RidgeClassifier().fit(_x(), (_x()[:, 0] > 0).astype(int)),
    }[case]()
    (art,) = run_sklearn(tmp_path, est)["artifacts"]
    assert art["status"] == "passed", art["error"]
    domain = _sets(art)["in-domain"]
    if case in ("onehot", "categorical-nb"):
        assert "categories" in domain["origin"]
        assert "extreme" not in _sets(art)  # every feature is a category: nothing to push


def test_uploaded_sample_decides_and_bounds_the_in_domain_rows(tmp_path: Path) -> None:
    from sklearn.linear_model import LinearRegression

    x = np.random.default_rng(1).uniform(10.0, 20.0, size=(50, 3))
    est = LinearRegression().fit(x, x.sum(axis=1))
    sample = {"X": x[:8].astype(np.float32)}
    (art,) = run_sklearn(tmp_path, est, sample=sample)["artifacts"]
    sets = _sets(art)
    assert art["validation"]["decided_by"] == ["sample", "in-domain", "batch-1"]
    assert sets["sample"]["rows"] == 8 and "sample's" in sets["in-domain"]["origin"]


# -- PMML inputs the model does not use ------------------------------------------------


@pytest.mark.slow
@needs_java
def test_pmml_of_a_sparse_model_takes_the_models_own_inputs(tmp_path: Path) -> None:
    from sklearn.linear_model import Lasso

    x = _x()
    est = Lasso(alpha=0.5).fit(x, 2.0 * x[:, 0])
    assert np.count_nonzero(est.coef_) == 1
    pmml = by_format(run_sklearn(tmp_path, est, targets=("pmml",)))["pmml"]
    assert pmml["status"] in ("passed", "weak"), pmml["error"]
    assert pmml["converter"]["unused_fields"] == ["X_1", "X_2", "X_3"]
    model = runtime.load_file(tmp_path / pmml["path"], format="pmml")
    assert model.signature.input_names == ["X_0", "X_1", "X_2", "X_3"]
    got = model.run({f"X_{i}": x[:5, i] for i in range(4)})["variable"]
    np.testing.assert_allclose(got, est.predict(x[:5]), rtol=1e-6)


# -- outputs ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "case", ["multi-output", "multi-task", "rfe", "feature-union", "mixture", "outlier"]
)
def test_output_handling(tmp_path: Path, case: str) -> None:
    from sklearn.ensemble import IsolationForest
    from sklearn.feature_selection import RFE
    from sklearn.linear_model import LogisticRegression, MultiTaskLasso, Ridge
    from sklearn.mixture import GaussianMixture
    from sklearn.multioutput import MultiOutputRegressor
    from sklearn.pipeline import FeatureUnion
    from sklearn.preprocessing import MinMaxScaler, StandardScaler

    x = _x()
    y2 = np.column_stack([x[:, 0], x[:, 1] - x[:, 2]])
    est = {
        "multi-output": lambda: MultiOutputRegressor(Ridge()).fit(x, y2),
        "multi-task": lambda: MultiTaskLasso(alpha=0.01).fit(x, y2),
        "rfe": lambda: RFE(LogisticRegression(), n_features_to_select=2).fit(x, x[:, 0] > 0),
        "feature-union": lambda: FeatureUnion(
            [("std", StandardScaler()), ("minmax", MinMaxScaler())]
        ).fit(x),
        "mixture": lambda: GaussianMixture(3, random_state=0).fit(x),
        "outlier": lambda: IsolationForest(n_estimators=10, random_state=0).fit(x),
    }[case]()
    (art,) = run_sklearn(tmp_path, est)["artifacts"]
    assert art["status"] == "passed", art["error"]
    outputs = {o["name"]: o for o in art["validation"]["outputs"]}
    if case.startswith("multi"):
        assert outputs["variable"]["shape"][1] == 2
    if case in ("rfe", "mixture"):
        assert set(outputs) == {"label", "probabilities"}


@pytest.mark.slow
@needs_java
def test_kmeans_pmml_passes_for_the_label_and_names_what_it_lacks(tmp_path: Path) -> None:
    from sklearn.cluster import KMeans

    est = KMeans(n_clusters=3, n_init=2, random_state=0).fit(_x())
    pmml = by_format(run_sklearn(tmp_path, est, targets=("pmml",)))["pmml"]
    assert pmml["status"] == "passed", pmml["error"]
    assert pmml["validation"]["missing_outputs"] == ["scores"]
    assert "has no scores output" in pmml["validation"]["summary"]


# -- inputs that are not one float matrix ----------------------------------------------


def test_label_encoder_takes_1d_labels(tmp_path: Path) -> None:
    from sklearn.preprocessing import LabelBinarizer, LabelEncoder

    words = np.array(["paris", "lyon", "nice", "lyon", "paris"], dtype=object)
    codes = np.array([3, 1, 2, 1, 5])
    # (skl2onnx's LabelBinarizer compares strings with Equal, which onnxruntime lacks at
    # opset 18: integer classes there)
    for i, est in enumerate([LabelEncoder().fit(words), LabelBinarizer().fit(codes)]):
        (art,) = run_sklearn(tmp_path / str(i), est)["artifacts"]
        assert art["status"] in ("passed", "weak"), art["error"]
        spec = art["signature"]["inputs"][0]
        assert spec["dtype"] == ("str" if i == 0 else "int64") and len(spec["shape"]) == 1


def test_dict_input_is_refused_with_its_reason(tmp_path: Path) -> None:
    from sklearn.feature_extraction import DictVectorizer

    est = DictVectorizer().fit([{"a": 1.0, "b": 2.0}, {"a": 3.0}])
    (art,) = run_sklearn(tmp_path, est)["artifacts"]
    assert art["status"] == "skipped" and "one map per call" in art["error"]


def test_isotonic_refusal_is_the_converters_own_words(tmp_path: Path) -> None:
    from sklearn.isotonic import IsotonicRegression

    x = np.linspace(0, 1, 40)
    (art,) = run_sklearn(tmp_path, IsotonicRegression().fit(x, x**2))["artifacts"]
    assert art["status"] == "error"
    assert art["error"].startswith("skl2onnx failed") and "IsotonicRegression" in art["error"]


# -- applicability ---------------------------------------------------------------------


@pytest.mark.parametrize("name", ["SpectralClustering", "TSNE"])
def test_estimators_without_inference_are_refused_at_upload(tmp_path: Path, name: str) -> None:
    import skops.io as sio
    from sklearn.cluster import SpectralClustering
    from sklearn.manifold import TSNE

    x = _x(30, 3)
    est = SpectralClustering(2, random_state=0) if name != "TSNE" else TSNE(perplexity=5)
    est.fit(x)
    path = tmp_path / "m.skops"
    sio.dump(est, path)
    with pytest.raises(InvalidUpload, match="no inference on new data") as err:
        detect_framework(path, path.name)
    assert "fit_" in str(err.value)

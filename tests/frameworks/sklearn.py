"""Tiny scikit-learn models saved with skops, one case per common estimator shape."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tests.frameworks._cases import FrameworkCase

IMPORTS = ("sklearn", "skops", "skl2onnx")
BOTH = {"onnx": "passed", "pmml": "passed"}


def _xy(n: int = 120, d: int = 4, classes: int = 2, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d)).astype(np.float32)
    score = x[:, 0] + 0.5 * x[:, 1] - 0.25 * x[:, 2]
    if classes == 2:
        y = (score > 0).astype(np.int64)
    else:
        y = np.digitize(score, np.quantile(score, np.linspace(0, 1, classes + 1)[1:-1]))
    return x, y


def _save(est, folder: Path, name: str) -> Path:
    import skops.io as sio

    path = folder / f"{name}.skops"
    sio.dump(est, path)
    return path


def _logreg(folder: Path) -> Path:
    from sklearn.linear_model import LogisticRegression

    x, y = _xy(classes=3)
    return _save(LogisticRegression(max_iter=500).fit(x, y), folder, "logreg")


def _forest(folder: Path) -> Path:
    from sklearn.ensemble import RandomForestClassifier

    x, y = _xy()
    est = RandomForestClassifier(n_estimators=8, max_depth=4, random_state=0).fit(x, y)
    return _save(est, folder, "forest")


def _gboost(folder: Path) -> Path:
    from sklearn.ensemble import GradientBoostingClassifier

    x, y = _xy()
    est = GradientBoostingClassifier(n_estimators=10, max_depth=2, random_state=0).fit(x, y)
    return _save(est, folder, "gboost")


def _hgb(folder: Path) -> Path:
    from sklearn.ensemble import HistGradientBoostingClassifier

    x, y = _xy()
    return _save(HistGradientBoostingClassifier(max_iter=10).fit(x, y), folder, "hgb")


def _svc(folder: Path) -> Path:
    from sklearn.svm import SVC

    x, y = _xy()
    return _save(SVC(probability=True, random_state=0).fit(x, y), folder, "svc")


def _ridge(folder: Path) -> Path:
    from sklearn.linear_model import Ridge

    x, y = _xy()
    target = x @ np.array([1.0, -2.0, 0.5, 3.0], dtype=np.float32) + 0.1
    return _save(Ridge(alpha=0.5).fit(x, target), folder, "ridge")


def _kmeans(folder: Path) -> Path:
    from sklearn.cluster import KMeans

    x, _ = _xy()
    return _save(KMeans(n_clusters=3, n_init=2, random_state=0).fit(x), folder, "kmeans")


def mixed_frame(n: int = 80, seed: int = 0):
    import pandas as pd

    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "age": rng.uniform(18, 80, n).astype(np.float32),
            "income": rng.normal(50, 15, n).astype(np.float32),
            "city": rng.choice(["paris", "lyon", "nice"], n).astype(object),
            "plan": rng.choice(["basic", "pro"], n).astype(object),
        }
    )


def _mixed_pipeline(folder: Path) -> Path:
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    frame = mixed_frame()
    y = ((frame["age"] > 45) ^ (frame["city"] == "lyon")).astype(np.int64).to_numpy()
    pre = ColumnTransformer(
        [
            ("num", StandardScaler(), ["age", "income"]),
            ("cat", OneHotEncoder(handle_unknown="ignore"), ["city", "plan"]),
        ]
    )
    est = Pipeline([("pre", pre), ("clf", LogisticRegression(max_iter=500))]).fit(frame, y)
    return _save(est, folder, "mixed")


def _mixed_sample() -> dict[str, np.ndarray]:
    frame = mixed_frame(n=12, seed=1)
    out = {}
    for col in frame.columns:
        values = frame[col].to_numpy().reshape(-1, 1)
        out[col] = values.astype(object) if values.dtype == object else values
    return out


def _logreg_sample() -> dict[str, np.ndarray]:
    x, _ = _xy(n=10, seed=3)
    return {"X": x}


CASES = [
    # JPMML's softmax overflows (NaN) on the extreme rows: reported there, not deciding
    FrameworkCase("sklearn-logreg", "sklearn", _logreg, sample=_logreg_sample, expect=BOTH),
    FrameworkCase("sklearn-forest", "sklearn", _forest, expect=BOTH, slow=True),
    FrameworkCase("sklearn-gboost", "sklearn", _gboost, expect=BOTH, slow=True),
    FrameworkCase(
        "sklearn-svc-proba",
        "sklearn",
        _svc,
        expect={"onnx": "passed", "pmml": "skipped"},
        slow=True,
    ),
    FrameworkCase("sklearn-hgb", "sklearn", _hgb, expect=BOTH, slow=True),
    FrameworkCase(
        "sklearn-mixed-pipeline", "sklearn", _mixed_pipeline, sample=_mixed_sample, expect=BOTH
    ),
    FrameworkCase("sklearn-ridge", "sklearn", _ridge, expect=BOTH, slow=True),
    # PMML gives the cluster id (label); its affinities are not sklearn's distances
    FrameworkCase("sklearn-kmeans", "sklearn", _kmeans, expect=BOTH),
]

"""LightGBM uploads: the text model file (``Booster.save_model``), no pickle.

The text is read by LightGBM itself (``Booster(model_str=...)``). ``binary`` and
``multiclass``/``multiclassova`` objectives give ``label`` + ``probabilities``; every
other objective a ``variable``. ONNX goes through onnxmltools; PMML through
sklearn2pmml, which takes the scikit-learn wrapper (``LGBMClassifier`` /
``LGBMRegressor``) set up around the loaded booster, never refitted.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from converters._boosting import (
    BoostingSource,
    BoostingToPmml,
    OnnxmltoolsConverter,
    read_head,
)
from converters._registry import import_optional
from runtime.errors import InvalidUpload

__all__ = ["LightGBMFramework", "LightGBMToOnnx", "LightGBMToPmml"]

_CLASSIFIERS = ("binary", "multiclass", "multiclassova")


def _lgb() -> Any:
    return import_optional("lightgbm", extra="boosting")


def _header(text: str) -> dict[str, str]:
    """The ``key=value`` lines before the first tree."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("Tree="):
            break
        key, sep, value = line.partition("=")
        if sep:
            out[key.strip()] = value.strip()
    return out


def _splits(booster: Any) -> Any:
    def read() -> dict[int, np.ndarray]:
        frame = booster.trees_to_dataframe()
        frame = frame[frame["split_feature"].notna()]
        names = list(booster.feature_name())
        return {
            names.index(str(key)): group["threshold"].to_numpy(dtype=np.float64)
            for key, group in frame.groupby("split_feature")
        }

    return read


def _wrapper(booster: Any, kind: str, objective: str, n_features: int, n_classes: int) -> Any:
    """The sklearn wrapper around an already-trained booster (what sklearn2pmml reads)."""
    lgb = _lgb()
    if kind == "classifier":
        from sklearn.preprocessing import LabelEncoder

        est = lgb.LGBMClassifier(objective=objective)
        classes = np.arange(n_classes)
        est._le = LabelEncoder().fit(classes)
        est._classes, est._n_classes = classes, n_classes
    else:
        est = lgb.LGBMRegressor(objective=objective)
    est._Booster, est._objective = booster, objective
    est._n_features = est._n_features_in = n_features
    est.fitted_ = True
    return est


class LightGBMFramework:
    """LightGBM text model files (``booster.save_model('model.txt')``)."""

    name: ClassVar[str] = "lightgbm"
    extensions: ClassVar[tuple[str, ...]] = (".txt",)
    accepts: ClassVar[str] = "LightGBM (.txt from Booster.save_model)"

    def sniff(self, path: Path, filename: str, policy: Any = None) -> bool:
        return read_head(path).startswith(b"tree\nversion=")

    def load(
        self, path: Path, filename: str, options: Any = None, policy: Any = None
    ) -> BoostingSource:
        lgb = _lgb()
        try:
            text = path.read_text(encoding="utf-8")
            booster = lgb.Booster(model_str=text)
        except Exception as exc:  # noqa: BLE001 - LightGBMError, decode errors
            raise InvalidUpload(
                f"{filename!r} could not be read as a LightGBM model: {exc}"
            ) from exc
        header = _header(text)
        objective = header.get("objective", "").split(" ", 1)[0]
        kind = "classifier" if objective in _CLASSIFIERS else "regressor"
        n_classes = max(int(header.get("num_class", "1")), 2) if kind == "classifier" else 0
        n_features = int(booster.num_feature())
        return BoostingSource(
            "lightgbm",
            booster,
            kind=kind,
            n_features=n_features,
            n_classes=n_classes,
            scores=lambda x: np.asarray(booster.predict(x)),
            objective=header.get("objective", ""),
            wrapper=_wrapper(booster, kind, objective, n_features, n_classes),
            used_features=[int(i) for i in np.flatnonzero(booster.feature_importance("split"))],
            splits=_splits(booster),
        )


class LightGBMToOnnx(OnnxmltoolsConverter):
    """LightGBM -> ONNX with onnxmltools."""

    framework: ClassVar[str] = "lightgbm"
    function: ClassVar[str] = "convert_lightgbm"
    label: ClassVar[str] = "LightGBM"
    arguments: ClassVar[Mapping[str, Any]] = {"zipmap": False}


class LightGBMToPmml(BoostingToPmml):
    """LightGBM -> PMML through sklearn2pmml (``LGBMClassifier`` / ``LGBMRegressor``)."""

    framework: ClassVar[str] = "lightgbm"

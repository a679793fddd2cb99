"""XGBoost uploads: ``Booster.save_model`` files (JSON or UBJSON), no pickle.

The file is read by XGBoost itself (``Booster.load_model`` on the bytes), which parses
trees and parameters only. Classification objectives (``binary:logistic``,
``multi:softprob``, ``multi:softmax``) give ``label`` + ``probabilities``; every other
objective a ``variable``. ONNX goes through onnxmltools, PMML through sklearn2pmml.
"""

from __future__ import annotations

import json
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

__all__ = ["XGBoostFramework", "XGBoostToOnnx", "XGBoostToPmml"]

_CLASSIFIERS = ("binary:logistic", "multi:softprob", "multi:softmax")
# an XGBoost model document opens with its "learner" object, in JSON or UBJSON
_UBJ_KEYS = (b"{L\x00\x00\x00\x00\x00\x00\x00\x07learner", b"{i\x07learner", b"{U\x07learner")


def _xgb() -> Any:
    return import_optional("xgboost", extra="boosting")


def _softmax(margin: np.ndarray) -> np.ndarray:
    z = margin - margin.max(axis=1, keepdims=True)
    e = np.exp(z)
    return np.asarray(e / e.sum(axis=1, keepdims=True))


def _load_booster(path: Path, filename: str) -> Any:
    xgb = _xgb()
    booster = xgb.Booster()
    try:
        booster.load_model(bytearray(path.read_bytes()))
        config = json.loads(booster.save_config())
    except Exception as exc:  # noqa: BLE001 - XGBoostError and parse errors
        raise InvalidUpload(f"{filename!r} could not be read as an XGBoost model: {exc}") from exc
    return booster, config


def _scores(booster: Any, objective: str) -> Any:
    xgb = _xgb()

    def run(x: np.ndarray) -> np.ndarray:
        data = xgb.DMatrix(x)
        if objective == "multi:softmax":
            return _softmax(np.asarray(booster.predict(data, output_margin=True)))
        return np.asarray(booster.predict(data))

    return run


def _used_features(booster: Any) -> list[int]:
    """Indices of the features some tree splits on."""
    names = list(booster.feature_names or [])
    used = []
    for key in booster.get_score(importance_type="weight"):
        if key in names:
            used.append(names.index(key))
        elif key.startswith("f") and key[1:].isdigit():
            used.append(int(key[1:]))
    return used


def _splits(booster: Any) -> Any:
    def read() -> dict[int, np.ndarray]:
        frame = booster.trees_to_dataframe()
        frame = frame[frame["Feature"] != "Leaf"]
        names = list(booster.feature_names or [])
        out: dict[int, np.ndarray] = {}
        for key, group in frame.groupby("Feature"):
            name = str(key)
            index = names.index(name) if name in names else int(name.lstrip("f"))
            out[index] = group["Split"].to_numpy(dtype=np.float64)
        return out

    return read


def _wrapper(path: Path, kind: str) -> Any:
    xgb = _xgb()
    est = xgb.XGBClassifier() if kind == "classifier" else xgb.XGBRegressor()
    est.load_model(bytearray(path.read_bytes()))
    return est


class XGBoostFramework:
    """``.json`` / ``.ubj`` files written by ``Booster.save_model`` (or the sklearn wrapper)."""

    name: ClassVar[str] = "xgboost"
    extensions: ClassVar[tuple[str, ...]] = (".json", ".ubj")
    accepts: ClassVar[str] = "XGBoost (.json/.ubj from Booster.save_model)"

    def sniff(self, path: Path, filename: str, policy: Any = None) -> bool:
        head = read_head(path)
        if head.startswith(b'{"learner"'):
            return True
        return any(head.startswith(key) for key in _UBJ_KEYS)

    def load(
        self, path: Path, filename: str, options: Any = None, policy: Any = None
    ) -> BoostingSource:
        booster, config = _load_booster(path, filename)
        learner = config.get("learner", {})
        objective = str(learner.get("objective", {}).get("name", ""))
        params = learner.get("learner_model_param", {})
        if int(params.get("num_target", 1) or 1) > 1:
            raise InvalidUpload(f"{filename!r} is a multi-target XGBoost model; not supported")
        kind = "classifier" if objective in _CLASSIFIERS else "regressor"
        n_classes = max(int(params.get("num_class", 0) or 0), 2) if kind == "classifier" else 0
        return BoostingSource(
            "xgboost",
            booster,
            kind=kind,
            n_features=int(booster.num_features()),
            n_classes=n_classes,
            scores=_scores(booster, objective),
            objective=objective,
            wrapper=_wrapper(path, kind),
            used_features=_used_features(booster),
            splits=_splits(booster),
        )


class XGBoostToOnnx(OnnxmltoolsConverter):
    """XGBoost -> ONNX with onnxmltools, from the scikit-learn wrapper it converts."""

    framework: ClassVar[str] = "xgboost"
    function: ClassVar[str] = "convert_xgboost"
    label: ClassVar[str] = "XGBoost"

    def model_of(self, source: BoostingSource) -> Any:
        return source.wrapper


class XGBoostToPmml(BoostingToPmml):
    """XGBoost -> PMML through sklearn2pmml (``XGBClassifier`` / ``XGBRegressor``)."""

    framework: ClassVar[str] = "xgboost"

"""CatBoost uploads: ``.cbm`` files (``model.save_model('model.cbm')``), no pickle.

The file is read by CatBoost itself. ``Logloss``/``CrossEntropy``/``MultiClass``
models give ``label`` + ``probabilities``; every other loss a ``variable`` (the raw
formula value, what ``predict`` returns for a regressor). ONNX comes from CatBoost's
own exporter (``save_model(format="onnx")``). There is no PMML: sklearn2pmml has no
CatBoost converter. Models with categorical or text features are refused: CatBoost's
ONNX export supports numeric features only.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from converters._base import ConversionOutput, Sample, Tolerance
from converters._boosting import TREE_TOLERANCE, BoostingSource, read_head, save_onnx
from converters._registry import import_optional
from runtime.errors import ConversionError, InvalidUpload

__all__ = ["CatBoostFramework", "CatBoostToOnnx"]

_CLASSIFIERS = ("Logloss", "CrossEntropy", "MultiClass", "MultiClassOneVsAll")


def _cb() -> Any:
    return import_optional("catboost", extra="boosting")


def _scores(model: Any, kind: str) -> Any:
    prediction = "Probability" if kind == "classifier" else "RawFormulaVal"

    def run(x: np.ndarray) -> np.ndarray:
        return np.asarray(model.predict(x, prediction_type=prediction))

    return run


class CatBoostFramework:
    """CatBoost binary model files (``.cbm``)."""

    name: ClassVar[str] = "catboost"
    extensions: ClassVar[tuple[str, ...]] = (".cbm",)
    accepts: ClassVar[str] = "CatBoost (.cbm)"

    def sniff(self, path: Path, filename: str, policy: Any = None) -> bool:
        return read_head(path).startswith(b"CBM1")

    def load(
        self, path: Path, filename: str, options: Any = None, policy: Any = None
    ) -> BoostingSource:
        cb = _cb()
        model = cb.CatBoost()
        try:
            model.load_model(str(path), format="cbm")
        except Exception as exc:  # noqa: BLE001 - CatBoostError
            raise InvalidUpload(
                f"{filename!r} could not be read as a CatBoost model: {exc}"
            ) from exc
        if model.get_cat_feature_indices() or model.get_text_feature_indices():
            raise InvalidUpload(
                f"{filename!r} has categorical or text features; CatBoost exports only numeric "
                "features to ONNX. Encode them before training, or upload an ONNX file"
            )
        loss = str(model.get_all_params().get("loss_function", "")).split(":", 1)[0]
        kind = "classifier" if loss in _CLASSIFIERS else "regressor"
        n_classes = 0
        if kind == "classifier":
            found = getattr(model, "classes_", None)
            classes = (
                [] if found is None else [c.item() if hasattr(c, "item") else c for c in found]
            )
            if classes and classes != list(range(len(classes))):
                raise InvalidUpload(
                    f"{filename!r} names its classes {classes[:5]}; only models trained on "
                    "class indices 0..k-1 are supported (the ONNX export reports indices)"
                )
            n_classes = max(len(classes), 2)
        return BoostingSource(
            "catboost",
            model,
            kind=kind,
            n_features=len(model.feature_names_ or []),
            n_classes=n_classes,
            scores=_scores(model, kind),
            objective=loss,
        )


class CatBoostToOnnx:
    """CatBoost -> ONNX with CatBoost's own exporter."""

    framework: ClassVar[str] = "catboost"
    target: ClassVar[str] = "onnx"
    tolerance: ClassVar[Tolerance] = TREE_TOLERANCE

    def applies(self, source: Any) -> str | None:
        return None

    def convert(self, source: Any, sample: Sample, out_dir: Path) -> ConversionOutput:
        onnx = import_optional("onnx", extra="server")
        with tempfile.TemporaryDirectory() as tmp:
            raw = Path(tmp) / "catboost.onnx"
            try:
                source.native.save_model(str(raw), format="onnx")
                model = onnx.load(str(raw))
            except Exception as exc:  # noqa: BLE001 - CatBoostError
                raise ConversionError(f"CatBoost's ONNX export failed: {exc}") from exc
        return save_onnx(model, source, out_dir, "catboost", "catboost")

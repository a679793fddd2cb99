"""XGBoost and LightGBM estimators inside scikit-learn pipelines (``.skops`` uploads).

skl2onnx converts a pipeline step by step; it learns the boosting libraries' wrappers
from onnxmltools' converters, registered here once per process, and only for a library
that is already imported (a ``.skops`` file holding its estimators imports it while
loading): a pipeline without them pays nothing.
"""

from __future__ import annotations

import sys
import threading
from typing import Any

from converters._registry import import_optional

__all__ = ["register_boosting_converters"]

_lock = threading.Lock()
_done: set[str] = set()
_OPTIONS = {"nocl": [True, False], "zipmap": [True, False, "columns"]}


def register_boosting_converters() -> None:
    """Teach skl2onnx the XGBoost/LightGBM wrappers of the libraries imported so far."""
    with _lock:
        if "xgboost" in sys.modules and "xgboost" not in _done:
            _register_xgboost()
            _done.add("xgboost")
        if "lightgbm" in sys.modules and "lightgbm" not in _done:
            _register_lightgbm()
            _done.add("lightgbm")


def _shapes() -> Any:
    return import_optional("skl2onnx.common.shape_calculator", extra="sklearn")


def _register_xgboost() -> None:
    skl2onnx = import_optional("skl2onnx", extra="sklearn")
    xgb = import_optional("xgboost", extra="boosting")
    ops = import_optional(
        "onnxmltools.convert.xgboost.operator_converters.XGBoost", extra="boosting"
    )
    shapes = _shapes()
    skl2onnx.update_registered_converter(
        xgb.XGBClassifier,
        "XGBoostXGBClassifier",
        shapes.calculate_linear_classifier_output_shapes,
        ops.convert_xgboost,
        options=_OPTIONS,
    )
    skl2onnx.update_registered_converter(
        xgb.XGBRegressor,
        "XGBoostXGBRegressor",
        shapes.calculate_linear_regressor_output_shapes,
        ops.convert_xgboost,
    )


def _register_lightgbm() -> None:
    skl2onnx = import_optional("skl2onnx", extra="sklearn")
    lgb = import_optional("lightgbm", extra="boosting")
    ops = import_optional(
        "onnxmltools.convert.lightgbm.operator_converters.LightGbm", extra="boosting"
    )
    shapes = _shapes()
    skl2onnx.update_registered_converter(
        lgb.LGBMClassifier,
        "LightGbmLGBMClassifier",
        shapes.calculate_linear_classifier_output_shapes,
        ops.convert_lightgbm,
        options=_OPTIONS,
    )
    skl2onnx.update_registered_converter(
        lgb.LGBMRegressor,
        "LightGbmLGBMRegressor",
        shapes.calculate_linear_regressor_output_shapes,
        ops.convert_lightgbm,
        options={"split": None},
    )

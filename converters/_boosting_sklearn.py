"""XGBoost and LightGBM estimators inside scikit-learn pipelines (``.skops`` uploads).

skl2onnx converts a pipeline step by step; it learns the boosting libraries' wrappers
from onnxmltools' converters, registered here once per process, and only for a library
that is already imported (a ``.skops`` file holding its estimators imports it while
loading): a pipeline without them pays nothing.
"""

from __future__ import annotations

import sys
import threading
from dataclasses import dataclass
from typing import Any

from converters._registry import import_optional

__all__ = ["register_boosting_converters"]

_lock = threading.Lock()
_done: set[str] = set()
_OPTIONS = {"nocl": [True, False], "zipmap": [True, False, "columns"]}


@dataclass(frozen=True)
class _Library:
    """Where one boosting library's wrappers and onnxmltools' converter live."""

    module: str
    converter_module: str
    converter: str
    #: the wrappers are <wrappers>Classifier and <wrappers>Regressor
    wrappers: str
    #: skl2onnx's alias is this prefix + the wrapper's class name
    prefix: str
    #: skl2onnx options of the regressor (the classifier always takes _OPTIONS)
    regressor_options: dict[str, Any] | None


_LIBRARIES = (
    _Library(
        module="xgboost",
        converter_module="onnxmltools.convert.xgboost.operator_converters.XGBoost",
        converter="convert_xgboost",
        wrappers="XGB",
        prefix="XGBoost",
        regressor_options=None,
    ),
    _Library(
        module="lightgbm",
        converter_module="onnxmltools.convert.lightgbm.operator_converters.LightGbm",
        converter="convert_lightgbm",
        wrappers="LGBM",
        prefix="LightGbm",
        regressor_options={"split": None},
    ),
)


def register_boosting_converters() -> None:
    """Teach skl2onnx the XGBoost/LightGBM wrappers of the libraries imported so far."""
    with _lock:
        for library in _LIBRARIES:
            if library.module in sys.modules and library.module not in _done:
                _register(library)
                _done.add(library.module)


def _register(library: _Library) -> None:
    skl2onnx = import_optional("skl2onnx", extra="sklearn")
    shapes = import_optional("skl2onnx.common.shape_calculator", extra="sklearn")
    package = import_optional(library.module, extra="boosting")
    convert = getattr(
        import_optional(library.converter_module, extra="boosting"), library.converter
    )
    for kind, options in (("Classifier", _OPTIONS), ("Regressor", library.regressor_options)):
        wrapper = getattr(package, f"{library.wrappers}{kind}")
        skl2onnx.update_registered_converter(
            wrapper,
            f"{library.prefix}{wrapper.__name__}",
            getattr(shapes, f"calculate_linear_{kind.lower()}_output_shapes"),
            convert,
            options=options,
        )

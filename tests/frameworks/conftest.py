"""Shared helpers for the framework case tables.

``--framework NAME`` (repeatable) limits the generic tests to some frameworks.
``MODELPORT_REQUIRE_ALL_FRAMEWORKS=1`` turns a missing framework library into a test
failure instead of a skip, so a broken install never passes as green.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType

import pytest

from converters import FRAMEWORKS

# one case module per built-in framework (tests/frameworks/<name>.py)
FRAMEWORK_MODULES = FRAMEWORKS

# libraries each framework's cases need, beyond what a case module lists in IMPORTS
REQUIRED_LIBRARIES: dict[str, tuple[str, ...]] = {
    "onnx": ("onnx", "onnxruntime"),
    "sklearn": ("sklearn", "skops", "skl2onnx"),
    "torch": ("torch", "onnxscript"),
    "keras": ("keras", "tensorflow", "tf2onnx"),
    "tensorflow": ("tensorflow", "tf2onnx"),
    "xgboost": ("xgboost", "onnxmltools"),
    "lightgbm": ("lightgbm", "onnxmltools"),
    "catboost": ("catboost",),
    "transformers": ("transformers", "torch"),
}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--framework",
        action="append",
        default=[],
        help="run the framework case tests only for this framework (repeatable)",
    )


def require_all() -> bool:
    return os.environ.get("MODELPORT_REQUIRE_ALL_FRAMEWORKS", "") not in ("", "0", "false")


def import_or_skip(name: str) -> ModuleType:
    """``pytest.importorskip``, or a failure under MODELPORT_REQUIRE_ALL_FRAMEWORKS=1."""
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        if require_all():
            pytest.fail(f"{name} is required (MODELPORT_REQUIRE_ALL_FRAMEWORKS=1): {exc}")
        pytest.skip(f"{name} is not installed: {exc}")


def case_modules() -> dict[str, ModuleType]:
    """The ``tests/frameworks/<framework>.py`` modules, by framework name."""
    return {fw: importlib.import_module(f"tests.frameworks.{fw}") for fw in FRAMEWORK_MODULES}


def all_cases() -> list:
    return [case for module in case_modules().values() for case in module.CASES]


def libraries_for(framework: str) -> tuple[str, ...]:
    module = case_modules()[framework]
    return REQUIRED_LIBRARIES.get(framework, ()) + tuple(getattr(module, "IMPORTS", ()))


@pytest.fixture
def selected_frameworks(request: pytest.FixtureRequest) -> list[str]:
    return list(request.config.getoption("--framework"))

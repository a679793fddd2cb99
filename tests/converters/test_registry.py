"""The converter/framework plug-in tables."""

from __future__ import annotations

import uuid

import pytest

from converters import (
    TARGETS,
    RegistrationError,
    _registry,
    applicable_targets,
    get_converter,
    get_framework,
    register_converter,
    register_framework,
    registered_converters,
    registered_frameworks,
)
from runtime.errors import MissingDependency, UnsupportedFormat


@pytest.fixture(autouse=True)
def _restore_tables():
    """Registrations made by a test do not leak into others (e.g. the case meta-test)."""
    frameworks, converters = (dict(t) for t in _registry._load_tables())
    yield
    _registry._frameworks, _registry._converters = frameworks, converters


def test_builtin_tables() -> None:
    assert registered_frameworks() == [
        "catboost",
        "keras",
        "lightgbm",
        "onnx",
        "sklearn",
        "tensorflow",
        "torch",
        "transformers",
        "xgboost",
    ]
    assert ("sklearn", "pmml") in registered_converters()
    assert TARGETS == ("onnx", "pmml", "savedmodel")
    assert applicable_targets("sklearn") == ["onnx", "pmml"]
    assert applicable_targets("keras") == ["onnx", "savedmodel"]
    assert applicable_targets("onnx") == ["onnx"]
    assert applicable_targets("xgboost") == ["onnx", "pmml"]
    assert applicable_targets("lightgbm") == ["onnx", "pmml"]
    assert applicable_targets("catboost") == ["onnx"]
    assert applicable_targets("transformers") == ["onnx"]


def test_unknown_names_list_what_is_registered() -> None:
    with pytest.raises(UnsupportedFormat, match="available: .*sklearn->onnx"):
        get_converter("sklearn", "coreml")
    with pytest.raises(UnsupportedFormat, match="available: catboost, keras, lightgbm, onnx"):
        get_framework("caffe")
    with pytest.raises(UnsupportedFormat, match="registered: catboost, keras"):
        applicable_targets("caffe")


def test_overwriting_is_refused() -> None:
    with pytest.raises(RegistrationError, match="already registered"):
        register_converter("sklearn", "onnx", "somewhere:Else")
    with pytest.raises(RegistrationError, match="already registered"):
        register_framework("onnx", "somewhere:Else")


def test_missing_library_names_the_extra() -> None:
    fw = f"fw{uuid.uuid4().hex[:8]}"
    register_converter(fw, "onnx", "tests.converters._needs_missing_library:Converter")
    with pytest.raises(MissingDependency, match=r"pip install 'modelport\["):
        get_converter(fw, "onnx")


def test_registering_a_class_and_a_missing_module() -> None:
    fw = f"fw{uuid.uuid4().hex[:8]}"

    class Conv:
        framework = fw
        target = "onnx"

    register_framework(fw, "converters._onnx:OnnxFramework")
    register_converter(fw, "onnx", Conv)
    register_converter(fw, "pmml", "converters._nothing_here:Conv")
    assert isinstance(get_converter(fw, "onnx"), Conv)
    assert applicable_targets(fw) == ["onnx", "pmml"]
    with pytest.raises(UnsupportedFormat, match="not installed"):
        get_converter(fw, "pmml")


def test_builtins_resolve() -> None:
    for framework, target in registered_converters():
        if framework in ("onnx", "sklearn"):
            assert get_converter(framework, target).target == target

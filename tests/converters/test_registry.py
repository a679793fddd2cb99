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
    frameworks = _registry.FRAMEWORK_PLUGINS.snapshot()
    converters = _registry.CONVERTER_PLUGINS.snapshot()
    yield
    _registry.FRAMEWORK_PLUGINS.restore(frameworks)
    _registry.CONVERTER_PLUGINS.restore(converters)


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


def test_a_broken_entry_point_plugin_is_reported_and_the_rest_still_work(tmp_path) -> None:
    """A distribution whose entries clash with built-ins or do not import is reported
    by name; detection and the built-ins keep working (before, a clash raised on every
    table lookup and an unimportable module failed without naming its distribution)."""
    import json
    import subprocess
    import sys

    from tests.conftest import ROOT

    site = tmp_path / "site"
    info = site / "acme_broken-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-broken\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        "[modelport.converters]\n"
        "sklearn = acme_broken:Sklearn\n"  # clashes with a built-in
        "acme = acme_not_installed:Framework\n"  # does not import
        "acme:onnx:x = acme_broken:Conv\n"  # a malformed converter name
    )
    code = (
        "import json, converters\n"
        "from converters import _registry\n"
        "from runtime.errors import UnsupportedFormat\n"
        "out = {'frameworks': converters.registered_frameworks(),\n"
        "       'broken': _registry.FRAMEWORK_PLUGINS.broken()\n"
        "                 + _registry.CONVERTER_PLUGINS.broken(),\n"
        "       'sklearn': type(converters.get_framework('sklearn')).__module__}\n"
        "try:\n"
        "    converters.get_framework('acme')\n"
        "except UnsupportedFormat as exc:\n"
        "    out['acme'] = str(exc)\n"
        "print(json.dumps(out))\n"
    )
    env = {"PYTHONPATH": f"{ROOT}:{site}", "PATH": "/usr/bin:/bin"}
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=env
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert "acme" in out["frameworks"] and "sklearn" in out["frameworks"]
    assert out["sklearn"] == "converters._sklearn"  # the built-in is never replaced
    assert len(out["broken"]) == 2
    assert any("'sklearn' (entry point of acme-broken 1.0)" in m for m in out["broken"])
    assert any("'acme:onnx:x'" in m and "does not parse" in m for m in out["broken"])
    assert "acme_not_installed (entry point of acme-broken 1.0)" in out["acme"]
    assert "not installed" in out["acme"]
    assert "left out" in proc.stderr  # logged as a warning

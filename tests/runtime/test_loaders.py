"""Loaders registered by format; missing backends name the pip extra."""

from __future__ import annotations

import subprocess
import sys

import pytest

import runtime
from runtime import _loaders
from runtime.errors import ModelportError
from tests.conftest import ROOT


def test_builtin_loaders():
    table = runtime.loaders()
    assert {"onnx", "pmml", "savedmodel"} <= set(table)


def test_overwriting_a_registration_is_refused():
    with pytest.raises(ModelportError, match="already registered"):
        runtime.register_loader("onnx", "somewhere:Else")


@pytest.fixture
def _restore_loaders():
    saved = _loaders.LOADERS.snapshot()
    yield
    _loaders.LOADERS.restore(saved)


def test_a_registered_loader_is_used(tmp_path, linear_path, _restore_loaders):
    runtime.register_loader("onnx-copy", "runtime._onnx:OnnxBackend")
    model = runtime.load_file(linear_path, format="onnx-copy")
    assert model.info.format == "onnx-copy"


@pytest.mark.parametrize(
    ("module", "fmt", "suffix", "extra"),
    [
        ("pypmml", "pmml", ".pmml", "modelport[pmml]"),
        ("tensorflow", "savedmodel", "", "modelport[tensorflow]"),
    ],
)
def test_missing_backend_names_the_extra(tmp_path, module, fmt, suffix, extra):
    target = tmp_path / f"model{suffix}"
    if fmt == "savedmodel":
        target.mkdir()
        (target / "saved_model.pb").write_bytes(b"")
    else:
        target.write_text("<PMML/>")
    code = (
        f"import sys; sys.modules[{module!r}] = None\n"
        "import runtime\n"
        "from runtime.errors import MissingDependency\n"
        "try:\n"
        f"    runtime.load_file({str(target)!r}, format={fmt!r})\n"
        "except MissingDependency as exc:\n"
        "    print('MISSING', exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert f"pip install '{extra}'" in out.stdout, out.stdout + out.stderr

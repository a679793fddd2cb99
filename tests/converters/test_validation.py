"""The shared validation routine on real ONNX models run through runtime.load_file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import runtime
from converters import Sample, ServerPolicy, Tolerance, get_framework
from converters._samples import MIN_ROWS, generate_inputs, load_sample
from converters._validation import validate
from runtime.errors import InvalidUpload
from tests.factories.onnx_models import linear_model
from tests.frameworks.onnx import constant_model, two_input_model

TOL = Tolerance(atol=1e-4, rtol=1e-3)


def _source(path: Path):
    return get_framework("onnx").load(path, path.name, {}, ServerPolicy())


def _sample(source) -> Sample:
    return Sample(source.generate_inputs(MIN_ROWS), origin="generated")


def test_identical_model_passes_with_full_report(tmp_path: Path) -> None:
    path = linear_model(tmp_path / "a.onnx")
    source = _source(path)
    report = validate(source, runtime.load_file(path), _sample(source), TOL)
    assert report["status"] == "passed" and report["passed"] and not report["weak"]
    (out,) = report["outputs"]
    assert out["name"] == "y" and out["compare"] == "allclose"
    assert out["max_abs_diff"] == 0.0 and out["max_rel_diff"] == 0.0
    assert out["mismatches"] == 0
    assert out["samples"] == (MIN_ROWS + 1) * 2  # the sample plus the batch-of-one run
    assert out["tolerance"] == {"atol": 1e-4, "rtol": 1e-3}
    assert [b["rows"] for b in report["sample"]["batches"]] == [MIN_ROWS, 1]


def test_different_weights_fail_and_every_mismatch_is_counted(tmp_path: Path) -> None:
    source = _source(linear_model(tmp_path / "a.onnx", seed=0))
    other = runtime.load_file(linear_model(tmp_path / "b.onnx", seed=1))
    report = validate(source, other, _sample(source), TOL)
    assert report["status"] == "failed" and not report["passed"]
    (out,) = report["outputs"]
    assert out["mismatches"] > MIN_ROWS
    assert out["max_abs_diff"] > 1.0 and out["max_rel_diff"] > 0.01
    assert "mismatch in y" in report["summary"]


def test_loose_tolerance_override_accepts_small_differences(tmp_path: Path) -> None:
    source = _source(linear_model(tmp_path / "a.onnx", seed=0))
    other = runtime.load_file(linear_model(tmp_path / "b.onnx", seed=1))
    report = validate(source, other, _sample(source), Tolerance(atol=1e6, rtol=0))
    assert report["status"] == "passed"
    assert report["outputs"][0]["tolerance"] == {"atol": 1e6, "rtol": 0}


def test_constant_reference_is_weak(tmp_path: Path) -> None:
    path = constant_model(tmp_path / "c.onnx")
    source = _source(path)
    report = validate(source, runtime.load_file(path), _sample(source), TOL)
    assert report["status"] == "weak" and report["weak"] and report["passed"]
    assert "proves little" in report["summary"]


def test_labels_compare_exactly(tmp_path: Path) -> None:
    path = two_input_model(tmp_path / "two.onnx")
    source = _source(path)
    report = validate(source, runtime.load_file(path), _sample(source), TOL)
    by_name = {o["name"]: o for o in report["outputs"]}
    assert by_name["label"]["compare"] == "exact" and by_name["label"]["tolerance"] is None
    assert by_name["sum"]["compare"] == "allclose"


class _Renamed:
    """An artifact stand-in whose output carries another name."""

    def __init__(self, model) -> None:
        self.model = model

    def run(self, inputs):
        return {"renamed": v for v in self.model.run(inputs).values()}


class _Reshaped:
    def __init__(self, model) -> None:
        self.model = model

    def run(self, inputs):
        return {k: v.reshape(v.shape[0], -1, 1) for k, v in self.model.run(inputs).items()}


def test_missing_output_and_wrong_shape_fail(tmp_path: Path) -> None:
    path = linear_model(tmp_path / "a.onnx")
    source = _source(path)
    model = runtime.load_file(path)
    missing = validate(source, _Renamed(model), _sample(source), TOL)
    assert missing["status"] == "failed" and missing["missing_outputs"] == ["y"]
    shaped = validate(source, _Reshaped(model), _sample(source), TOL)
    assert shaped["status"] == "failed"
    assert "shape" in shaped["outputs"][0]["reasons"][0]


def test_generated_inputs_have_edges(tmp_path: Path) -> None:
    source = _source(linear_model(tmp_path / "a.onnx"))
    x = generate_inputs(source.signature, 10)["x"]
    assert x.shape == (MIN_ROWS, 4) and x.dtype == np.float32
    assert np.all(x[1] == 0) and np.all(x[2] == 1e3) and np.all(x[3] == -1e3)


@pytest.mark.parametrize("suffix", [".npy", ".npz", ".csv", ".parquet"])
def test_uploaded_sample_formats(tmp_path: Path, suffix: str) -> None:
    import pandas as pd

    source = _source(linear_model(tmp_path / "a.onnx"))
    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    path = tmp_path / f"sample{suffix}"
    if suffix == ".npy":
        np.save(path, x)
    elif suffix == ".npz":
        np.savez(path, x=x)
    elif suffix == ".csv":
        pd.DataFrame(x).to_csv(path, index=False)
    else:
        pd.DataFrame(x, columns=list("abcd")).to_parquet(path)
    got = load_sample(path, source.signature)
    np.testing.assert_array_equal(got["x"], x)


def test_sample_with_wrong_names_is_refused(tmp_path: Path) -> None:
    source = _source(two_input_model(tmp_path / "two.onnx"))
    path = tmp_path / "s.npz"
    np.savez(path, a=np.zeros((2, 3), np.float32))
    with pytest.raises(InvalidUpload, match="lacks input"):
        load_sample(path, source.signature)

"""Keras plug-in: load -> ONNX / SavedModel -> runtime.load_file -> compare by name."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest

from converters import ServerPolicy

pytest.importorskip("keras")
pytest.importorskip("tf2onnx")

import runtime
from converters._base import Sample
from converters._keras import KerasFramework, KerasToOnnx, KerasToSavedModel
from runtime.errors import InvalidUpload
from tests.frameworks.keras import CASES, build_with_lambda

CONVERTERS = {"onnx": KerasToOnnx, "savedmodel": KerasToSavedModel}
SLOW = {"keras-sequential-h5", "keras-two-inputs"}


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    """case id -> (upload path, source model), built once per module."""
    folder = tmp_path_factory.mktemp("keras-cases")
    cache: dict[str, tuple[Path, object]] = {}

    def get(case):
        if case.id not in cache:
            target = folder / case.id
            target.mkdir()
            path = case.build(target)
            framework = KerasFramework()
            assert framework.sniff(path, path.name)
            cache[case.id] = (path, framework.load(path, path.name, {}, ServerPolicy()))
        return cache[case.id]

    return get


def _params():
    for case in CASES:
        for target in case.expect:
            marks = [pytest.mark.slow] if case.id in SLOW else []
            yield pytest.param(case, target, id=f"{case.id}-{target}", marks=marks)


@pytest.mark.parametrize(("case", "target"), list(_params()))
def test_case_converts_and_matches(case, target, loaded, tmp_path):
    _, source = loaded(case)
    converter = CONVERTERS[target]()
    assert case.expect[target] == "passed"
    assert converter.applies(source) is None
    inputs = source.generate_inputs(32)
    result = converter.convert(source, Sample(inputs), tmp_path / "out")
    model = runtime.load_file(result.path)
    # names, never positions: the SavedModel lists inputs sorted, the source does not
    assert sorted(model.input_names) == sorted(source.signature.input_names)
    assert sorted(result.signature.output_names) == sorted(source.signature.output_names)
    for rows in (inputs, {k: v[:1] for k, v in inputs.items()}):
        want = source.predict(rows)
        got = model.run(rows)
        assert set(got) == set(want)
        for name, value in want.items():
            np.testing.assert_allclose(
                got[name], value, atol=converter.tolerance.atol, rtol=converter.tolerance.rtol
            )
    assert np.std(next(iter(source.predict(inputs).values()))) > 1e-3
    if target == "onnx":
        assert result.media_type == "application/onnx" and result.path.is_file()
        assert result.converter["opset"] >= 13
        assert result.signature.inputs[0].shape[0] == "batch"
    else:
        assert result.media_type == "application/x-tar"
        assert (result.path / "saved_model.pb").is_file()
    assert result.converter["versions"]["keras"]


def test_names_come_from_the_config(loaded):
    two = next(c for c in CASES if c.id == "keras-two-inputs")
    _, source = loaded(two)
    assert source.signature.input_names == ["numeric", "extra"]
    assert source.signature.output_names == ["value", "logits"]
    seq = next(c for c in CASES if c.id == "keras-sequential")
    _, source = loaded(seq)
    assert source.signature.input_names == ["features"]
    assert source.signature.output_names == ["scores"]


def test_savedmodel_inputs_matched_by_name_not_position(loaded, tmp_path):
    two = next(c for c in CASES if c.id == "keras-two-inputs")
    _, source = loaded(two)
    inputs = source.generate_inputs(8)
    result = KerasToSavedModel().convert(source, Sample(inputs), tmp_path / "sm")
    model = runtime.load_file(result.path)
    assert model.input_names == ["extra", "numeric"]  # the SavedModel's own (sorted) order
    got = model.run({"numeric": inputs["numeric"], "extra": inputs["extra"]})
    want = source.predict(inputs)
    np.testing.assert_allclose(got["logits"], want["logits"], atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_lambda_layer_is_refused_by_name(tmp_path, suffix):
    path = tmp_path / f"lambda{suffix}"
    build_with_lambda().save(str(path))
    framework = KerasFramework()
    assert framework.sniff(path, path.name)
    with pytest.raises(InvalidUpload, match="Lambda layer named 'doubler'"):
        framework.load(path, path.name, {}, ServerPolicy())


def test_other_files_are_not_keras(tmp_path):
    archive = tmp_path / "x.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("config.json", "{}")
    text = tmp_path / "x.h5"
    text.write_text("not hdf5")
    framework = KerasFramework()
    assert not framework.sniff(archive, "x.keras")
    assert not framework.sniff(text, "x.h5")
    with pytest.raises(InvalidUpload, match="not a Keras model"):
        framework.load(text, "x.h5", {}, ServerPolicy())

"""TensorFlow SavedModel plug-in: archive -> load -> ONNX / SavedModel -> runtime -> compare."""

from __future__ import annotations

import io
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest

from converters import ServerPolicy

pytest.importorskip("tensorflow")
pytest.importorskip("tf2onnx")

import runtime
from converters._base import Sample
from converters._tensorflow import TensorFlowFramework, TensorFlowToOnnx, TensorFlowToSavedModel
from runtime.errors import InvalidUpload
from tests.frameworks.tensorflow import CASES

CONVERTERS = {"onnx": TensorFlowToOnnx, "savedmodel": TensorFlowToSavedModel}


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tf-cases")
    cache: dict[str, tuple[Path, object]] = {}

    def get(case):
        if case.id not in cache:
            target = folder / case.id
            target.mkdir()
            path = case.build(target)
            framework = TensorFlowFramework()
            assert framework.sniff(path, path.name)
            upload = target / "upload" / "source.bin"  # the worker keeps no file name
            upload.parent.mkdir()
            upload.write_bytes(path.read_bytes())
            cache[case.id] = (upload, framework.load(upload, path.name, {}, ServerPolicy()))
        return cache[case.id]

    return get


def _params():
    for case in CASES:
        for target in case.expect:
            marks = [pytest.mark.slow] if case.slow else []
            yield pytest.param(case, target, id=f"{case.id}-{target}", marks=marks)


@pytest.mark.parametrize(("case", "target"), list(_params()))
def test_case_converts_and_matches(case, target, loaded, tmp_path):
    _, source = loaded(case)
    converter = CONVERTERS[target]()
    assert case.expect[target] == "passed"
    inputs = source.generate_inputs(32)
    result = converter.convert(source, Sample(inputs), tmp_path / "out")
    model = runtime.load_file(result.path)
    assert sorted(model.input_names) == ["scale", "x"]
    assert sorted(result.signature.output_names) == ["logits", "probabilities"]
    for rows in (inputs, {k: v[:1] for k, v in inputs.items()}):
        want = source.predict(rows)
        got = model.run(rows)
        assert set(got) == set(want)
        for name, value in want.items():
            np.testing.assert_allclose(
                got[name], value, atol=converter.tolerance.atol, rtol=converter.tolerance.rtol
            )
    assert np.std(source.predict(inputs)["logits"]) > 1e-3
    if target == "onnx":
        assert result.media_type == "application/onnx"
        assert result.converter["versions"]["tf2onnx"]
        assert result.signature.inputs[0].shape[0] == "batch"
    else:
        assert result.media_type == "application/x-tar"
        assert result.converter["signatures"] == ["serving_default"]


def test_signature_names(loaded):
    _, source = loaded(CASES[0])
    assert sorted(source.signature.input_names) == ["scale", "x"]
    assert source.signature.output_names == ["logits", "probabilities"]
    assert dict((s.name, s.shape) for s in source.signature.inputs) == {
        "x": ("batch", 4),
        "scale": ("batch", 1),
    }


def test_no_serving_signature_is_explained(tmp_path):
    import tensorflow as tf

    module = tf.Module()
    module.v = tf.Variable(1.0)
    tf.saved_model.save(module, str(tmp_path / "bare"))
    archive = tmp_path / "bare.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for item in sorted((tmp_path / "bare").rglob("*")):
            zf.write(item, str(item.relative_to(tmp_path / "bare")))
    with pytest.raises(InvalidUpload, match="serving_default"):
        TensorFlowFramework().load(archive, "bare.zip", {}, ServerPolicy())


def test_slip_inside_an_upload_is_refused(tmp_path):
    archive = tmp_path / "evil.tgz"
    with tarfile.open(archive, "w:gz") as tf:
        for name in ("saved_model.pb", "../../evil.txt"):
            info = tarfile.TarInfo(name)
            info.size = 2
            tf.addfile(info, io.BytesIO(b"xx"))
    upload = tmp_path / "in" / "source.bin"
    upload.parent.mkdir()
    upload.write_bytes(archive.read_bytes())
    assert TensorFlowFramework().sniff(upload, "evil.tgz")
    with pytest.raises(InvalidUpload, match=r"'\.\.'"):
        TensorFlowFramework().load(upload, "evil.tgz", {}, ServerPolicy())
    assert not (tmp_path / "evil.txt").exists()


def test_archive_without_saved_model_is_not_tensorflow(tmp_path):
    archive = tmp_path / "x.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("a/b/saved_model.pb", "too deep")
    assert not TensorFlowFramework().sniff(archive, "x.zip")

"""load_file on local ONNX artifacts: the Model interface against raw onnxruntime."""

from __future__ import annotations

import hashlib

import numpy as np
import onnxruntime as ort
import pandas as pd
import pytest

import runtime
from runtime.errors import SignatureError, UnsupportedFormat


def _raw(path, feeds):
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return sess.run(None, feeds)


def test_predict_equals_raw_onnxruntime(linear_path):
    x = np.random.default_rng(0).standard_normal((7, 4)).astype(np.float32)
    model = runtime.load_file(linear_path)
    np.testing.assert_array_equal(model.predict(x), _raw(linear_path, {"x": x})[0])


def test_run_returns_every_output_by_name(classifier_path):
    x = np.random.default_rng(1).standard_normal((5, 4)).astype(np.float32)
    out = runtime.load_file(classifier_path).run({"x": x})
    label, proba = _raw(classifier_path, {"x": x})
    assert list(out) == ["label", "probabilities"]
    np.testing.assert_array_equal(out["label"], label)
    np.testing.assert_array_equal(out["probabilities"], proba)


def test_predict_is_the_first_output_and_predict_proba_the_probabilities(classifier_path):
    x = np.random.default_rng(2).standard_normal((6, 4)).astype(np.float32)
    model = runtime.load_file(classifier_path)
    label, proba = _raw(classifier_path, {"x": x})
    np.testing.assert_array_equal(model.predict(x), label)
    np.testing.assert_array_equal(model.predict_proba(x), proba)
    np.testing.assert_allclose(model.predict_proba(x).sum(axis=1), 1.0, rtol=1e-5)


def test_predict_proba_without_probability_output_says_so(linear_path):
    model = runtime.load_file(linear_path)
    with pytest.raises(SignatureError, match="no probability output.*outputs: y"):
        model.predict_proba(np.zeros((1, 4), np.float32))


def test_signature_comes_from_the_session(linear_path):
    sig = runtime.load_file(linear_path).signature
    assert sig.inputs == (runtime.TensorSpec("x", "float32", ("batch", 4)),)
    assert sig.outputs == (runtime.TensorSpec("y", "float32", ("batch", 2)),)


def test_given_signature_is_kept(linear_path):
    stored = runtime.Signature.from_dict(
        {
            "inputs": [{"name": "x", "dtype": "float32", "shape": ["n", 4]}],
            "outputs": [{"name": "y", "dtype": "float32", "shape": ["n", 2]}],
        }
    )
    assert runtime.load_file(linear_path, signature=stored.to_dict()).signature == stored


def test_signature_naming_other_inputs_is_refused(linear_path):
    wrong = {
        "inputs": [{"name": "features", "dtype": "float32", "shape": [None, 4]}],
        "outputs": [{"name": "y", "dtype": "float32", "shape": [None, 2]}],
    }
    with pytest.raises(SignatureError, match="features"):
        runtime.load_file(linear_path, signature=wrong)


def test_info_describes_the_file(linear_path):
    info = runtime.load_file(linear_path).info
    assert info.format == "onnx"
    assert info.sha256 == hashlib.sha256(linear_path.read_bytes()).hexdigest()
    assert info.path == linear_path
    assert info.origin == "file"
    assert info.name is None and info.version is None
    assert info.device == "cpu" and info.providers == ("CPUExecutionProvider",)


def test_dataframe_feeds_a_single_input_model_its_values(linear_path):
    x = np.random.default_rng(3).standard_normal((4, 4)).astype(np.float32)
    frame = pd.DataFrame(x, columns=["f0", "f1", "f2", "f3"])
    model = runtime.load_file(linear_path)
    np.testing.assert_array_equal(model.predict(frame), model.predict(x))


def test_dataframe_columns_are_matched_by_name(two_input_path):
    model = runtime.load_file(two_input_path)
    frame = pd.DataFrame(
        {"b": np.array([1, 2, 3], np.int64), "a": np.array([0.5, 1, 2], np.float32)}
    )
    np.testing.assert_allclose(model.predict(frame), [[2.0], [4.0], [7.0]])


def test_dataframe_missing_and_extra_columns_are_named(two_input_path):
    model = runtime.load_file(two_input_path)
    frame = pd.DataFrame({"a": np.ones(2, np.float32), "zz": np.ones(2, np.int64)})
    with pytest.raises(SignatureError, match=r"missing: b; unexpected: zz"):
        model.predict(frame)


def test_matrix_columns_feed_per_column_inputs_in_signature_order(two_input_path):
    model = runtime.load_file(two_input_path)
    # column 0 -> a (float32, cast from float64), column 1 -> b (int64: float is refused)
    with pytest.raises(SignatureError, match="input 'b'.*float64 cannot be cast safely to int64"):
        model.predict(np.array([[1.0, 3.0], [2.0, 4.0]]))
    with pytest.raises(SignatureError, match="needs 2 columns"):
        model.predict(np.ones((2, 3), np.float32))


def test_string_inputs_pass(model_dir):
    from tests.factories.runtime_models import string_input_model

    model = runtime.load_file(string_input_model(model_dir / "strings.onnx"))
    out = model.predict(np.array(["a", "bc"], dtype=object))
    assert list(out) == ["a", "bc"]
    with pytest.raises(SignatureError, match="strings were expected"):
        model.predict(np.array([1.0, 2.0]))


def test_unknown_file_format_is_refused(tmp_path):
    junk = tmp_path / "model.bin"
    junk.write_bytes(b"not a model at all")
    with pytest.raises(UnsupportedFormat, match="cannot tell the format"):
        runtime.load_file(junk)


def test_unknown_format_name_lists_the_registered_ones(linear_path):
    with pytest.raises(UnsupportedFormat, match="available: onnx, pmml, savedmodel"):
        runtime.load_file(linear_path, format="torchscript")


def test_missing_file_is_reported(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.onnx"):
        runtime.load_file(tmp_path / "nope.onnx")


def test_corrupt_onnx_is_a_modelport_error(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x08\x07garbage")
    with pytest.raises(runtime.ModelportError, match="cannot load"):
        runtime.load_file(bad)


def test_folder_with_one_onnx_file_loads(tmp_path, linear_path):
    folder = tmp_path / "pulled"
    folder.mkdir()
    (folder / "model.onnx").write_bytes(linear_path.read_bytes())
    x = np.ones((2, 4), np.float32)
    np.testing.assert_array_equal(
        runtime.load_file(folder).predict(x), runtime.load_file(linear_path).predict(x)
    )


def test_session_options_are_applied(tmp_path, linear_path):
    cached = tmp_path / "opt" / "linear.opt.onnx"
    model = runtime.load_file(
        linear_path, threads=1, optimization="basic", optimized_model_path=cached
    )
    assert cached.is_file()
    opts = model._backend.session.get_session_options()
    assert opts.intra_op_num_threads == 1
    assert str(opts.graph_optimization_level).endswith("ORT_ENABLE_BASIC")
    x = np.ones((3, 4), np.float32)
    np.testing.assert_array_equal(runtime.load_file(cached).predict(x), model.predict(x))


def test_unknown_session_option_is_refused(linear_path):
    with pytest.raises(TypeError, match="threadz"):
        runtime.load_file(linear_path, threadz=2)


def test_bad_optimization_level_is_refused(linear_path):
    with pytest.raises(ValueError, match="choose one of disable, basic, extended, all"):
        runtime.load_file(linear_path, optimization="max")


@pytest.fixture
def external_data_tar(tmp_path, linear_path):
    """An ONNX model with external weights, packed in a tar like the registry packs it."""
    import tarfile

    import onnx

    folder = tmp_path / "ext"
    folder.mkdir()
    proto = onnx.load(str(linear_path))
    onnx.save(
        proto,
        str(folder / "model.onnx"),
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location="weights.bin",
        size_threshold=0,
    )
    assert (folder / "weights.bin").is_file()
    tar_path = tmp_path / "ext.tar"
    with tarfile.open(tar_path, "w") as tar:
        for p in sorted(folder.iterdir()):
            tar.add(p, arcname=p.name)
    expected = runtime.load_file(linear_path).predict(np.ones((2, 4), np.float32))
    return tar_path, expected


def test_onnx_with_external_data_in_a_tar(external_data_tar):
    tar_path, expected = external_data_tar
    model = runtime.load_file(tar_path, format="onnx")
    np.testing.assert_array_equal(model.predict(np.ones((2, 4), np.float32)), expected)
    assert model.info.sha256 == hashlib.sha256(tar_path.read_bytes()).hexdigest()


def test_modified_unpacked_folder_is_extracted_again(tmp_path, external_data_tar):
    tar_path, expected = external_data_tar
    model = runtime.load_file(tar_path, format="onnx")
    weights = model.info.path.parent / "weights.bin"
    weights.write_bytes(b"\0" * weights.stat().st_size)
    with pytest.warns(RuntimeWarning, match="was modified; extracting it again"):
        again = runtime.load_file(tar_path, format="onnx")
    np.testing.assert_array_equal(again.predict(np.ones((2, 4), np.float32)), expected)


def test_load_takes_local_paths_but_keeps_bare_names_as_references(
    tmp_path, linear_path, monkeypatch
):
    from runtime._load import _looks_like_path

    monkeypatch.chdir(tmp_path)
    (tmp_path / "lin.onnx").write_bytes(linear_path.read_bytes())
    (tmp_path / "fraud-clf").mkdir()  # a folder that happens to share a model's name
    assert runtime.load("lin.onnx").info.origin == "file"
    assert runtime.load(tmp_path / "lin.onnx").info.format == "onnx"
    assert _looks_like_path("./fraud-clf") and _looks_like_path("models/x.onnx")
    assert not _looks_like_path("fraud-clf")
    assert not _looks_like_path("fraud-clf:3")

"""What push() accepts becomes one uploadable file; frameworks load only when needed."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile

import numpy as np
import pytest

from clients._serialize import framework_of, prepared_sample, prepared_upload, zip_folder
from runtime.errors import InvalidUpload
from tests.conftest import ROOT


def test_importing_clients_loads_no_framework_or_server_stack():
    code = (
        "import sys, clients, clients.cli\n"
        "bad = [m for m in ('torch', 'tensorflow', 'sklearn', 'keras', 'fastapi', 'sqlalchemy',"
        " 'uvicorn', 'api', 'registry', 'converters') if m in sys.modules]\n"
        "print(bad)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert out.stdout.strip() == "[]"


def test_a_file_path_is_sent_as_is(tmp_path):
    path = tmp_path / "m.onnx"
    path.write_bytes(b"abc")
    with prepared_upload(str(path)) as up:
        assert up.path == path
        assert up.filename == "m.onnx"
        assert up.framework is None


def test_a_folder_is_zipped_deterministically(tmp_path):
    folder = tmp_path / "sm"
    (folder / "variables").mkdir(parents=True)
    (folder / "saved_model.pb").write_bytes(b"pb")
    (folder / "variables" / "variables.index").write_bytes(b"idx")
    first = zip_folder(folder, tmp_path / "a.zip").read_bytes()
    os.utime(folder / "saved_model.pb", (0, 0))
    second = zip_folder(folder, tmp_path / "b.zip").read_bytes()
    assert first == second
    with prepared_upload(folder) as up:
        assert up.framework == "tensorflow"
        assert up.filename == "sm.zip"
        names = zipfile.ZipFile(up.path).namelist()
    assert names == ["saved_model.pb", "variables/variables.index"]
    assert not up.path.exists()  # temporary files are cleaned up


def test_a_symlink_in_a_folder_is_refused(tmp_path):
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "link").symlink_to("/etc/passwd")
    with pytest.raises(InvalidUpload, match="symbolic link"), prepared_upload(folder):
        pass


def test_a_missing_path_is_a_clear_error(tmp_path):
    with pytest.raises(InvalidUpload, match="does not exist"), prepared_upload(tmp_path / "nope"):
        pass


def test_an_unknown_object_lists_what_is_accepted():
    with pytest.raises(InvalidUpload, match="fitted scikit-learn estimator"), prepared_upload(42):
        pass


def test_sklearn_estimator_is_saved_with_skops():
    from sklearn.linear_model import LogisticRegression

    x = np.random.default_rng(0).standard_normal((20, 3))
    model = LogisticRegression().fit(x, (x[:, 0] > 0).astype(int))
    assert framework_of(model) == "sklearn"
    with prepared_upload(model) as up:
        assert up.filename == "model.skops"
        assert up.framework == "sklearn"
        assert zipfile.is_zipfile(up.path)  # a skops file is a zip archive


def test_an_unfitted_estimator_is_refused():
    from sklearn.linear_model import LogisticRegression

    with pytest.raises(InvalidUpload, match="not fitted"), prepared_upload(LogisticRegression()):
        pass


def test_torch_module_needs_example_inputs():
    import torch

    with (
        pytest.raises(InvalidUpload, match="example_inputs"),
        prepared_upload(torch.nn.Linear(3, 2)),
    ):
        pass


def test_torch_module_is_exported_with_a_dynamic_batch(tmp_path):
    import torch

    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    with prepared_upload(model, example_inputs=(torch.randn(5, 3),)) as up:
        assert up.filename == "model.pt2"
        program = torch.export.load(up.path)
    out = program.module()(torch.randn(7, 3))  # a batch size other than the example's
    assert out.shape == (7, 2)


def test_samples_become_npy_or_npz(tmp_path):
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    with prepared_sample(x) as path:
        assert path.suffix == ".npy"
        np.testing.assert_array_equal(np.load(path), x)
    with prepared_sample({"a": x, "b": x[:, :1]}) as path:
        assert path.suffix == ".npz"
        assert sorted(np.load(path).files) == ["a", "b"]
    with prepared_sample(None) as path:
        assert path is None


def test_an_object_array_sample_is_refused():
    with (
        pytest.raises(InvalidUpload, match="object dtype"),
        prepared_sample(np.array(["a", 1], dtype=object)),
    ):
        pass


@pytest.mark.slow
def test_keras_model_is_saved_as_dot_keras():
    keras = pytest.importorskip("keras")

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    assert framework_of(model) == "keras"
    with prepared_upload(model) as up:
        assert up.filename == "model.keras"
        assert up.framework == "keras"
        assert zipfile.is_zipfile(up.path)


@pytest.mark.slow
def test_tf_module_is_saved_and_zipped():
    tf = pytest.importorskip("tensorflow")

    class Scale(tf.Module):
        def __init__(self):
            super().__init__()
            self.w = tf.Variable(2.0)

        @tf.function(input_signature=[tf.TensorSpec([None, 3], tf.float32)])
        def __call__(self, x):
            return x * self.w

    module = Scale()
    assert framework_of(module) == "tensorflow"
    with prepared_upload(module) as up:
        assert up.filename == "saved_model.zip"
        assert up.framework == "tensorflow"
        names = zipfile.ZipFile(up.path).namelist()
    assert "saved_model.pb" in names
    assert any(n.startswith("variables/") for n in names)

"""detect_framework: content decides, never the extension alone; nothing is executed."""

from __future__ import annotations

import io
import pickle
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest

from converters import accepted_uploads, detect_framework
from runtime.errors import InvalidUpload, UnsupportedMediaType
from tests.factories.onnx_models import linear_model


def _zip(path: Path, names: list[str]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name in names:
            zf.writestr(name, b"{}")
    return path


def _tgz(path: Path, names: list[str]) -> Path:
    with tarfile.open(path, "w:gz") as tf:
        for name in names:
            info = tarfile.TarInfo(name)
            info.size = 2
            tf.addfile(info, io.BytesIO(b"{}"))
    return path


def test_onnx_by_content_whatever_the_name(tmp_path: Path) -> None:
    path = linear_model(tmp_path / "weights.bin")
    assert detect_framework(path, "weights.bin") == "onnx"


def test_garbage_with_onnx_extension_is_refused_with_accepted_formats(tmp_path: Path) -> None:
    path = tmp_path / "model.onnx"
    path.write_bytes(b"this is not a protobuf model at all \xff\xfe")
    with pytest.raises(InvalidUpload) as err:
        detect_framework(path, "model.onnx")
    assert "not a valid ONNX model" in str(err.value)
    assert accepted_uploads() in str(err.value)
    assert "ONNX (.onnx)" in str(err.value) and "scikit-learn (.skops" in str(err.value)


def test_empty_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "m.onnx"
    path.write_bytes(b"")
    with pytest.raises(InvalidUpload, match=r"is empty\. Accepted uploads: .*ONNX \(\.onnx\)"):
        detect_framework(path, "m.onnx")


def test_unknown_bytes_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "model.txt"
    path.write_text("hello")
    with pytest.raises(InvalidUpload, match="Accepted uploads"):
        detect_framework(path, "model.txt")


def test_skops_zip(tmp_path: Path) -> None:
    import skops.io as sio
    from sklearn.linear_model import LinearRegression

    x = np.arange(12, dtype=float).reshape(6, 2)
    path = tmp_path / "m.bin"
    sio.dump(LinearRegression().fit(x, x[:, 0]), path)
    assert detect_framework(path, "m.bin") == "sklearn"


@pytest.mark.parametrize(
    ("names", "framework"),
    [
        (["config.json", "metadata.json", "model.weights.h5"], "keras"),
        (["saved_model.pb", "variables/variables.index"], "tensorflow"),
        (["export/saved_model.pb", "export/variables/variables.index"], "tensorflow"),
        (["export/saved_model.pb", "__MACOSX/export/._saved_model.pb"], "tensorflow"),
        (["m/archive_format", "m/models/model.json", "m/data/weights/w0"], "torch"),
        (["m/constants.pkl", "m/code/__torch__/m.py", "m/data.pkl"], "torch"),
    ],
)
def test_zip_layouts(tmp_path: Path, names: list[str], framework: str) -> None:
    assert detect_framework(_zip(tmp_path / "upload.zip", names), "upload.zip") == framework


def test_saved_model_tar_gz_root_or_one_top_folder(tmp_path: Path) -> None:
    root = _tgz(tmp_path / "a.tar.gz", ["saved_model.pb", "variables/variables.index"])
    nested = _tgz(tmp_path / "b.tgz", ["sm/saved_model.pb", "sm/variables/variables.index"])
    assert detect_framework(root, "a.tar.gz") == "tensorflow"
    assert detect_framework(nested, "b.tgz") == "tensorflow"


def test_saved_model_two_levels_down_is_refused(tmp_path: Path) -> None:
    path = _tgz(tmp_path / "c.tgz", ["a/b/saved_model.pb"])
    with pytest.raises(InvalidUpload, match="saved_model.pb"):
        detect_framework(path, "c.tgz")


def test_zip_of_something_else_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidUpload, match="no known model format"):
        detect_framework(_zip(tmp_path / "x.zip", ["readme.txt"]), "x.zip")


def test_real_torch_files(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    module = torch.nn.Linear(3, 2)
    pt2 = tmp_path / "m.pt2"
    torch.export.save(torch.export.export(module, (torch.randn(2, 3),)), pt2)
    script = tmp_path / "m.pt"
    torch.jit.script(module).save(str(script))
    assert detect_framework(pt2, "m.pt2") == "torch"
    assert detect_framework(script, "m.pt") == "torch"
    full = tmp_path / "full.pt"
    torch.save(module, full)
    state = tmp_path / "state.pt"
    torch.save(module.state_dict(), state)
    legacy = tmp_path / "legacy.pt"
    torch.save(module.state_dict(), legacy, _use_new_zipfile_serialization=False)
    for path in (full, state, legacy):
        with pytest.raises(UnsupportedMediaType) as err:
            detect_framework(path, path.name, allow_pickle=True)
        assert "torch.export" in str(err.value)


def test_keras_h5_needs_model_config(tmp_path: Path) -> None:
    h5py = pytest.importorskip("h5py")
    full = tmp_path / "model.h5"
    with h5py.File(full, "w") as f:
        f.attrs["model_config"] = '{"class_name": "Sequential"}'
    weights = tmp_path / "weights.h5"
    with h5py.File(weights, "w") as f:
        f.create_dataset("w", data=np.zeros(3))
    assert detect_framework(full, "model.h5") == "keras"
    with pytest.raises(InvalidUpload, match="model_config"):
        detect_framework(weights, "weights.h5")


def test_pickle_refused_by_default_with_skops_hint(tmp_path: Path) -> None:
    path = tmp_path / "model.pkl"
    path.write_bytes(pickle.dumps({"coef": [1.0, 2.0]}))
    with pytest.raises(UnsupportedMediaType) as err:
        detect_framework(path, "model.pkl")
    assert "skops" in str(err.value) and "sio.dump" in str(err.value)


def test_joblib_compressed_pickle_refused_by_default(tmp_path: Path) -> None:
    joblib = pytest.importorskip("joblib")
    path = tmp_path / "model.joblib"
    joblib.dump({"a": np.zeros(3)}, path, compress=3)
    with pytest.raises(UnsupportedMediaType, match="skops"):
        detect_framework(path, "model.joblib")


def test_pickle_accepted_as_sklearn_when_allowed(tmp_path: Path) -> None:
    from sklearn.linear_model import LinearRegression

    x = np.arange(12, dtype=float).reshape(6, 2)
    path = tmp_path / "model.pkl"
    path.write_bytes(pickle.dumps(LinearRegression().fit(x, x[:, 0])))
    assert detect_framework(path, "model.pkl", allow_pickle=True) == "sklearn"


def test_declared_framework_must_agree(tmp_path: Path) -> None:
    path = linear_model(tmp_path / "m.onnx")
    assert detect_framework(path, "m.onnx", declared="onnx") == "onnx"
    with pytest.raises(InvalidUpload, match="declared as framework 'torch'"):
        detect_framework(path, "m.onnx", declared="torch")
    with pytest.raises(InvalidUpload, match="unknown framework 'caffe'"):
        detect_framework(path, "m.onnx", declared="caffe")
    assert detect_framework(path, "m.onnx", declared="ONNX") == "onnx"


def test_detection_imports_no_training_framework(tmp_path: Path) -> None:
    """Detecting every kind of upload in a fresh interpreter imports neither torch nor TF."""
    onnx_path = linear_model(tmp_path / "m.onnx")
    pt2 = _zip(tmp_path / "m.pt2", ["m/archive_format", "m/models/model.json"])
    keras = _zip(tmp_path / "m.keras", ["config.json", "model.weights.h5"])
    tgz = _tgz(tmp_path / "sm.tgz", ["saved_model.pb"])
    skops = tmp_path / "m.skops"
    test_skops_zip(tmp_path)  # writes m.bin with a real estimator
    (tmp_path / "m.bin").rename(skops)
    code = (
        "import sys; from pathlib import Path; from converters import detect_framework\n"
        f"for p in {[str(p) for p in (onnx_path, pt2, keras, tgz, skops)]!r}:\n"
        "    detect_framework(Path(p), Path(p).name)\n"
        "bad = [m for m in ('torch', 'tensorflow', 'keras', 'sklearn') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def _big_onnx(path: Path, floats: int) -> Path:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weights = np.zeros((floats // 4, 4), dtype=np.float32)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "W"], ["y"])],
        "big",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", floats // 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4])],
        initializer=[numpy_helper.from_array(weights, "W")],
    )
    onnx.save(helper.make_model(graph), str(path))
    return path


def test_large_onnx_is_recognised_without_loading_its_weights(tmp_path: Path) -> None:
    import tracemalloc

    from converters import _onnx

    path = _big_onnx(tmp_path / "big.onnx", 20_000_000)  # 80 MB of weights
    assert path.stat().st_size > _onnx._ONNX_FULL_PARSE_BYTES
    tracemalloc.start()
    try:
        assert detect_framework(path, "big.onnx") == "onnx"
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1024 * 1024, f"detection allocated {peak} bytes for an 80 MB model"


@pytest.mark.parametrize("cut", [0.5, 0.999])
def test_large_truncated_onnx_is_refused(tmp_path: Path, cut: float) -> None:
    path = _big_onnx(tmp_path / "big.onnx", 20_000_000)
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * cut)])
    with pytest.raises(InvalidUpload, match="not a valid ONNX model"):
        detect_framework(path, "big.onnx")


def test_large_random_bytes_named_onnx_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "noise.onnx"
    path.write_bytes(np.random.default_rng(0).bytes(70 * 1024 * 1024))
    with pytest.raises(InvalidUpload):
        detect_framework(path, "noise.onnx")


class _Magic:
    """A framework plug-in of files starting with MAGIC1; MAGIC0 is its near miss."""

    name = "magic"
    extensions = (".magic",)
    options: dict[str, object] = {}

    def sniff(self, path: Path, filename: str, policy: object = None) -> bool:
        return path.read_bytes().startswith(b"MAGIC1")

    def explain(self, path: Path, filename: str) -> str | None:
        if path.read_bytes().startswith(b"MAGIC0"):
            return "is a version 0 magic file; save it again with magic 1."
        return None

    def load(self, *args: object) -> object:  # pragma: no cover - detection only
        raise NotImplementedError


def test_detection_asks_the_registered_plugins_and_their_explanations(tmp_path: Path) -> None:
    """Detection knows no layout: a registered plug-in's sniff claims its files and its
    explain words the refusal of a near miss."""
    from converters import _registry, register_framework

    saved = _registry.FRAMEWORK_PLUGINS.snapshot()
    try:
        register_framework("magic", _Magic)
        ok, old = tmp_path / "a.magic", tmp_path / "b.magic"
        ok.write_bytes(b"MAGIC1 payload")
        old.write_bytes(b"MAGIC0 payload")
        assert detect_framework(ok, "a.magic") == "magic"
        with pytest.raises(InvalidUpload, match="'b.magic' is a version 0 magic file"):
            detect_framework(old, "b.magic")
        # the refusal lists what every registered plug-in accepts, this one included
        other = tmp_path / "c.bin"
        other.write_bytes(b"\x00\x01 nothing anyone saves")
        with pytest.raises(InvalidUpload, match=r"ONNX \(\.onnx\); magic \(\.magic\)\.$"):
            detect_framework(other, "c.bin")
    finally:
        _registry.FRAMEWORK_PLUGINS.restore(saved)
    with pytest.raises(InvalidUpload, match="'b.magic' is not recognised|format of 'b.magic'"):
        detect_framework(old, "b.magic")
    assert "magic" not in accepted_uploads()

"""PyTorch plug-in: load -> convert -> runtime.load_file -> compare with the source."""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest

from converters import ServerPolicy

pytest.importorskip("torch")

import runtime
from converters import _torch_onnx
from converters._base import Sample
from converters._torch import TorchFramework, TorchToOnnx
from runtime.errors import ConversionError, InvalidUpload, UnsupportedMediaType
from tests.frameworks.torch import CASES, build_module


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    folder = tmp_path_factory.mktemp("torch-cases")
    cache: dict[str, Path] = {}

    def get(case) -> Path:
        if case.id not in cache:
            target = folder / case.id
            target.mkdir()
            cache[case.id] = case.build(target)
        return cache[case.id]

    return get


def convert_and_compare(path: Path, out: Path, options=None):
    framework = TorchFramework()
    assert framework.sniff(path, path.name)
    source = framework.load(path, path.name, options or {}, ServerPolicy())
    inputs = source.generate_inputs(32)
    expected = source.predict(inputs)
    result = TorchToOnnx().convert(source, Sample(inputs), out)
    model = runtime.load_file(result.path)
    tol = TorchToOnnx.tolerance
    for rows in (inputs, {k: v[:1] for k, v in inputs.items()}):
        want = source.predict(rows)
        got = model.run(rows)
        assert list(got) == source.signature.output_names
        for name, value in want.items():
            assert got[name].shape == value.shape
            np.testing.assert_allclose(got[name], value, atol=tol.atol, rtol=tol.rtol)
    assert np.std(next(iter(expected.values()))) > 1e-3  # the comparison means something
    return source, result


@pytest.mark.parametrize(
    "case", [pytest.param(c, id=c.id, marks=[pytest.mark.slow] if c.slow else []) for c in CASES]
)
def test_case_converts_and_matches(case, built, tmp_path):
    source, result = convert_and_compare(built(case), tmp_path / "out")
    assert case.expect == {"onnx": "passed"}
    assert result.media_type == "application/onnx"
    assert result.path.is_file() and result.path.name == "model.onnx"
    assert not list(result.path.parent.glob("*.data"))  # small models are one file
    assert result.signature.input_names == source.signature.input_names
    assert result.signature.output_names == source.signature.output_names
    assert result.signature.inputs[0].shape[0] == "batch"
    info = result.converter
    assert info["versions"]["torch"] and isinstance(info["opset"], int) and info["opset"] >= 17
    assert info["exporter"] == ("torchscript" if case.id.startswith("torch-script") else "dynamo")


def test_meaningful_names(built):
    by_id = {c.id: c for c in CASES}
    mlp = TorchFramework().load(built(by_id["torch-mlp"]), "mlp.pt2", {}, ServerPolicy())
    assert mlp.signature.input_names == ["features"]
    assert mlp.signature.output_names == ["output"]
    lstm = TorchFramework().load(built(by_id["torch-lstm"]), "lstm.pt2", {}, ServerPolicy())
    assert lstm.signature.input_names == ["sequence"]
    assert lstm.signature.output_names == ["score", "states"]
    script = TorchFramework().load(built(by_id["torch-script-mlp"]), "mlp.pt", {}, ServerPolicy())
    assert script.signature.input_names == ["features"]
    assert script.signature.inputs[0].shape == ("batch", 4)  # inferred from the first Linear


@pytest.mark.slow
def test_gru_pinned_sequence_length_is_respected(tmp_path):
    import torch

    class Gru(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.gru = torch.nn.GRU(3, 5, batch_first=True)

        def forward(self, seq: torch.Tensor) -> torch.Tensor:
            return self.gru(seq)[0]

    torch.manual_seed(0)
    program = torch.export.export(
        Gru().eval(),
        (torch.randn(2, 6, 3),),
        dynamic_shapes={"seq": {0: torch.export.Dim("batch")}},
    )
    path = tmp_path / "gru.pt2"
    torch.export.save(program, str(path))
    source, result = convert_and_compare(path, tmp_path / "out")
    assert source.signature.inputs[0].shape == ("batch", 6, 3)  # GRU pins the length
    assert source.generate_inputs(32)["seq"].shape == (32, 6, 3)


def test_torchscript_without_inferable_shape_asks_for_input_shapes(tmp_path):
    import torch

    class Scale(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.factor = torch.nn.Parameter(torch.tensor([1.5, -2.0, 0.5]))

        def forward(self, values: torch.Tensor) -> torch.Tensor:
            return values * self.factor + 1.0

    path = tmp_path / "scale.pt"
    torch.jit.script(Scale()).save(str(path))
    with pytest.raises(InvalidUpload, match="input_shapes"):
        TorchFramework().load(path, "scale.pt", {}, ServerPolicy())
    source, result = convert_and_compare(
        path, tmp_path / "out", {"input_shapes": {"values": [None, 3]}}
    )
    assert result.signature.input_names == ["values"]


def _pooling_script(tmp_path: Path) -> Path:
    """A TorchScript module that averages over a sequence axis of any length."""
    import torch

    class Pool(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lin = torch.nn.Linear(4, 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.lin(x.mean(dim=2))

    torch.manual_seed(0)
    path = tmp_path / "pool.pt"
    torch.jit.script(Pool().eval()).save(str(path))
    return path


def test_torchscript_dynamic_axes_make_named_axes_free(tmp_path):
    import torch

    path = _pooling_script(tmp_path)
    options = {"input_shapes": {"x": [None, 4, 5]}, "dynamic_axes": {"x": {"2": "seq"}}}
    source, result = convert_and_compare(path, tmp_path / "out", options)
    assert source.signature.inputs[0].shape == ("batch", 4, "seq")
    model = runtime.load_file(result.path)
    assert model.signature.inputs[0].shape == ("batch", 4, "seq")
    module = torch.jit.load(str(path))
    for seq in (1, 7, 16):
        x = np.random.default_rng(seq).standard_normal((3, 4, seq)).astype(np.float32)
        want = module(torch.from_numpy(x)).detach().numpy()
        np.testing.assert_allclose(model.predict(x), want, atol=1e-5, rtol=1e-4)


def test_torchscript_without_dynamic_axes_keeps_the_traced_length(tmp_path):
    from runtime.errors import SignatureError

    path = _pooling_script(tmp_path)
    _, result = convert_and_compare(path, tmp_path / "out", {"input_shapes": {"x": [None, 4, 5]}})
    model = runtime.load_file(result.path)
    with pytest.raises(SignatureError, match="x"):
        model.predict(np.zeros((3, 4, 7), np.float32))


@pytest.mark.parametrize(
    ("axes", "message"),
    [
        ({"y": {"1": "seq"}}, "not inputs of the module"),
        ({"x": {"3": "seq"}}, "has 3 axes"),
        ({"x": {"one": "seq"}}, "has 3 axes"),
        ({"x": {"2": "1bad name"}}, "must be a name"),
        ({"x": {"0": "rows"}}, "axis 0 is the batch axis"),
        ({"x": ["seq"]}, "must be an object"),
    ],
)
def test_bad_dynamic_axes_are_refused_clearly(tmp_path, axes, message):
    path = _pooling_script(tmp_path)
    options = {"input_shapes": {"x": [None, 4, 5]}, "dynamic_axes": axes}
    with pytest.raises(InvalidUpload, match=message):
        TorchFramework().load(path, path.name, options, ServerPolicy())


def test_torchscript_unsupported_op_is_a_clear_conversion_error(tmp_path):
    import torch

    class DictOut(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lin = torch.nn.Linear(4, 2)

        def forward(self, features: torch.Tensor) -> dict[str, torch.Tensor]:
            return {"logits": self.lin(features)}

    path = tmp_path / "dict.pt"
    torch.jit.script(DictOut()).save(str(path))
    source = TorchFramework().load(path, "dict.pt", {}, ServerPolicy())
    assert source.signature.output_names == ["logits"]
    with pytest.raises(ConversionError, match="TorchScript-based export failed"):
        TorchToOnnx().convert(source, Sample(source.generate_inputs(4)), tmp_path / "out")


def test_large_model_keeps_external_data_as_a_folder(built, tmp_path, monkeypatch):
    monkeypatch.setattr(_torch_onnx, "INLINE_LIMIT_BYTES", 0)
    case = next(c for c in CASES if c.id == "torch-mlp")
    _, result = convert_and_compare(built(case), tmp_path / "out")
    assert result.path.is_dir()
    assert result.media_type == "application/x-tar"
    assert sorted(p.name for p in result.path.iterdir()) == ["model.onnx", "model.onnx.data"]


class _Trap:
    """Unpickling this would create the marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


@pytest.mark.parametrize("legacy", [False, True])
def test_pickled_module_is_refused_unopened(tmp_path, legacy):
    import torch

    marker = tmp_path / "pwned"
    path = tmp_path / "model.pt"
    torch.save({"model": _Trap(marker)}, str(path), _use_new_zipfile_serialization=not legacy)
    with pytest.raises(UnsupportedMediaType, match=r"pickle.*torch\.export\.export"):
        TorchFramework().sniff(path, "model.pt")  # detection refuses it, whatever the policy
    with pytest.raises(UnsupportedMediaType, match=r"torch\.export\.export"):
        TorchFramework().load(path, "model.pt", {}, ServerPolicy())
    assert not marker.exists()


def test_state_dict_is_refused(tmp_path):
    import torch

    path = tmp_path / "weights.pt"
    torch.save(build_module("mlp").state_dict(), str(path))
    with pytest.raises(UnsupportedMediaType, match="state dict"):
        TorchFramework().load(path, "weights.pt", {}, ServerPolicy())


def test_other_files_are_not_torch(tmp_path):
    archive = tmp_path / "x.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("readme.txt", "hi")
    plain = tmp_path / "x.pkl"
    plain.write_bytes(pickle.dumps([1, 2]))
    framework = TorchFramework()
    assert not framework.sniff(archive, "x.zip")
    assert not framework.sniff(plain, "x.pkl")
    with pytest.raises(InvalidUpload, match=r"\.pt2"):
        framework.load(archive, "x.zip", {}, ServerPolicy())


def test_fixed_batch_program_runs_padded_and_onnx_explains(tmp_path):
    import torch

    module = build_module("mlp")
    program = torch.export.export(module, (torch.randn(3, 4),))  # no dynamic batch
    path = tmp_path / "fixed.pt2"
    torch.export.save(program, str(path))
    source = TorchFramework().load(path, "fixed.pt2", {}, ServerPolicy())
    assert source.static_batch == 3
    inputs = source.generate_inputs(32)
    assert inputs["features"].shape == (32, 4)
    with torch.no_grad():
        want = module(torch.from_numpy(inputs["features"])).numpy()
    np.testing.assert_allclose(source.predict(inputs)["output"], want, rtol=1e-5, atol=1e-6)
    one = {"features": inputs["features"][:1]}
    np.testing.assert_allclose(source.predict(one)["output"], want[:1], rtol=1e-5, atol=1e-6)
    with pytest.raises(ConversionError, match=r"fixed batch of 3.*Dim\('batch'\)"):
        TorchToOnnx().convert(source, Sample(inputs), tmp_path / "out")

"""A third-party framework plug-in, installed by the test through an entry point.

"acme-linear" is a made-up upload format: a JSON document holding the weights of
``y = scale * (x @ weights + bias)``. The plug-in recognises it by content, declares
the one converter option its loader reads (``scale``), and converts it to ONNX with
``onnx.helper``. Nothing of modelport names it: the registry finds it through the
``modelport.converters`` entry-point group of a distribution the test writes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from converters import (
    NO_PICKLES,
    ConversionOutput,
    OptionSpec,
    Sample,
    ServerPolicy,
    Tolerance,
)
from runtime import Signature, TensorSpec
from runtime.errors import InvalidUpload

MAGIC = b'{"format": "acme-linear"'


class AcmeSource:
    framework = "acme"

    def __init__(self, weights: np.ndarray, bias: np.ndarray, scale: float) -> None:
        self.native = (weights, bias, scale)
        self.weights, self.bias, self.scale = weights, bias, scale
        n_in, n_out = weights.shape
        self.signature = Signature(
            (TensorSpec("x", "float32", ("batch", n_in)),),
            (TensorSpec("y", "float32", ("batch", n_out)),),
        )

    def predict(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        x = np.asarray(inputs["x"], dtype=np.float32)
        return {"y": (self.scale * (x @ self.weights + self.bias)).astype(np.float32)}

    def generate_inputs(self, rows: int, seed: int = 0) -> dict[str, np.ndarray]:
        rng = np.random.default_rng(seed)
        return {"x": rng.standard_normal((rows, self.weights.shape[0])).astype(np.float32)}


class AcmeFramework:
    name: ClassVar[str] = "acme"
    extensions: ClassVar[tuple[str, ...]] = (".acme",)
    options: ClassVar[Mapping[str, OptionSpec]] = {
        "scale": OptionSpec(float, "a number such as 2.5", check=lambda v: _positive(v)),
    }

    def sniff(self, path: Path, filename: str, policy: ServerPolicy = NO_PICKLES) -> bool:
        with path.open("rb") as fh:
            return fh.read(len(MAGIC)) == MAGIC

    def load(
        self, path: Path, filename: str, options: Mapping[str, Any], policy: ServerPolicy
    ) -> AcmeSource:
        doc = json.loads(path.read_text())
        weights = np.asarray(doc["weights"], dtype=np.float32)
        bias = np.asarray(doc["bias"], dtype=np.float32)
        return AcmeSource(weights, bias, float(options.get("scale", 1.0)))


def _positive(value: float) -> None:
    if value <= 0:
        raise InvalidUpload(f"option 'scale' must be > 0, got {value}")


class AcmeToOnnx:
    framework: ClassVar[str] = "acme"
    target: ClassVar[str] = "onnx"
    tolerance: ClassVar[Tolerance] = Tolerance(atol=1e-5, rtol=1e-5)

    def applies(self, source: AcmeSource) -> str | None:
        return None

    def convert(self, source: AcmeSource, sample: Sample, out_dir: Path) -> ConversionOutput:
        import onnx
        from onnx import TensorProto, helper, numpy_helper

        n_in, n_out = source.weights.shape
        graph = helper.make_graph(
            [
                helper.make_node("MatMul", ["x", "W"], ["xw"]),
                helper.make_node("Add", ["xw", "b"], ["lin"]),
                helper.make_node("Mul", ["lin", "s"], ["y"]),
            ],
            "acme",
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", n_in])],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", n_out])],
            [
                numpy_helper.from_array(source.weights, "W"),
                numpy_helper.from_array(source.bias, "b"),
                numpy_helper.from_array(np.float32(source.scale).reshape(()), "s"),
            ],
        )
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
        model.ir_version = 8
        out_dir.mkdir(parents=True, exist_ok=True)
        path = out_dir / "model.onnx"
        onnx.save(model, str(path))
        return ConversionOutput(path, "application/onnx", source.signature, {"name": "acme"})

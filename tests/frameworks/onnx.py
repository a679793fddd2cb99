"""ONNX uploads: the file itself becomes the onnx artifact once checked and run."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tests.factories.onnx_models import linear_model
from tests.frameworks._cases import FrameworkCase

IMPORTS = ("onnx",)


def constant_model(path: Path, n_in: int = 4) -> Path:
    """``y = 0 * x + c``: runs fine, but its outputs never vary (a weak check)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    graph = helper.make_graph(
        [
            helper.make_node("Mul", ["x", "Z"], ["xz"]),
            helper.make_node("Add", ["xz", "C"], ["y"]),
        ],
        "constant",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", n_in])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", n_in])],
        initializer=[
            numpy_helper.from_array(np.zeros((n_in,), np.float32), "Z"),
            numpy_helper.from_array(np.full((n_in,), 0.25, np.float32), "C"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def two_input_model(path: Path) -> Path:
    """``sum = a + b`` and ``argmax`` (an int64 label output) of two named inputs."""
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [
            helper.make_node("Add", ["a", "b"], ["sum"]),
            helper.make_node("ArgMax", ["sum"], ["label"], axis=1, keepdims=0),
        ],
        "two",
        [
            helper.make_tensor_value_info("a", TensorProto.FLOAT, ["batch", 3]),
            helper.make_tensor_value_info("b", TensorProto.FLOAT, ["batch", 3]),
        ],
        [
            helper.make_tensor_value_info("sum", TensorProto.FLOAT, ["batch", 3]),
            helper.make_tensor_value_info("label", TensorProto.INT64, ["batch"]),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def _two_sample() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(5)
    return {
        "a": rng.standard_normal((6, 3)).astype(np.float32),
        "b": rng.standard_normal((6, 3)).astype(np.float32),
    }


CASES = [
    FrameworkCase(
        "onnx-linear", "onnx", lambda d: linear_model(d / "linear.onnx"), expect={"onnx": "passed"}
    ),
    FrameworkCase(
        "onnx-two-inputs",
        "onnx",
        lambda d: two_input_model(d / "two.onnx"),
        sample=_two_sample,
        expect={"onnx": "passed"},
    ),
    FrameworkCase(
        "onnx-constant", "onnx", lambda d: constant_model(d / "const.onnx"), expect={"onnx": "weak"}
    ),
]

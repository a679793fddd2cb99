"""Tiny ONNX models for the runtime's tests and benchmark, built with onnx.helper."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def _save(model, path: Path) -> Path:
    import onnx

    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


def _opset(opset: int = 17):
    from onnx import helper

    return [helper.make_opsetid("", opset)]


def classifier_model(path: Path, n_in: int = 4, n_classes: int = 3, seed: int = 0) -> Path:
    """Softmax regression: outputs ``label`` int64[batch] and ``probabilities`` float[batch, k]."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    w = rng.standard_normal((n_in, n_classes)).astype(np.float32)
    b = rng.standard_normal((n_classes,)).astype(np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("MatMul", ["x", "W"], ["xw"]),
            helper.make_node("Add", ["xw", "B"], ["logits"]),
            helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1),
            helper.make_node("ArgMax", ["logits"], ["label"], axis=1, keepdims=0),
        ],
        "classifier",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", n_in])],
        [
            helper.make_tensor_value_info("label", TensorProto.INT64, ["batch"]),
            helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", n_classes]),
        ],
        initializer=[numpy_helper.from_array(w, "W"), numpy_helper.from_array(b, "B")],
    )
    return _save(helper.make_model(graph, opset_imports=_opset()), path)


def two_input_model(path: Path) -> Path:
    """``y = a * 2 + float(b)`` with a float[batch, 1] and b int64[batch, 1] (two columns)."""
    from onnx import TensorProto, helper, numpy_helper

    graph = helper.make_graph(
        [
            helper.make_node("Mul", ["a", "two"], ["a2"]),
            helper.make_node("Cast", ["b"], ["bf"], to=TensorProto.FLOAT),
            helper.make_node("Add", ["a2", "bf"], ["y"]),
        ],
        "two_inputs",
        [
            helper.make_tensor_value_info("a", TensorProto.FLOAT, ["batch", 1]),
            helper.make_tensor_value_info("b", TensorProto.INT64, ["batch", 1]),
        ],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 1])],
        initializer=[numpy_helper.from_array(np.array([2.0], np.float32), "two")],
    )
    return _save(helper.make_model(graph, opset_imports=_opset()), path)


def mlp_model(
    path: Path, n_in: int = 32, hidden: int = 64, n_out: int = 4, layers: int = 2, seed: int = 0
) -> Path:
    """A dense ReLU network (Gemm layers) with a symbolic batch dim."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    nodes, inits = [], []
    prev, width = "x", n_in
    for i in range(layers + 1):
        out_w = n_out if i == layers else hidden
        w = (rng.standard_normal((width, out_w)) / np.sqrt(width)).astype(np.float32)
        inits += [
            numpy_helper.from_array(w, f"W{i}"),
            numpy_helper.from_array(np.zeros(out_w, np.float32), f"B{i}"),
        ]
        name = "y" if i == layers else f"h{i}"
        pre = name if i == layers else f"z{i}"
        nodes.append(helper.make_node("Gemm", [prev, f"W{i}", f"B{i}"], [pre]))
        if i != layers:
            nodes.append(helper.make_node("Relu", [pre], [name]))
        prev, width = name, out_w
    graph = helper.make_graph(
        nodes,
        "mlp",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", n_in])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", n_out])],
        initializer=inits,
    )
    return _save(helper.make_model(graph, opset_imports=_opset()), path)


def cnn_model(
    path: Path, channels: int = 8, size: int = 28, n_out: int = 10, seed: int = 0
) -> Path:
    """Two 3x3 conv + ReLU layers, global average pooling and a dense head; NCHW input."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    c1 = (rng.standard_normal((channels, 1, 3, 3)) / 3).astype(np.float32)
    c2 = (rng.standard_normal((channels, channels, 3, 3)) / 8).astype(np.float32)
    wd = (rng.standard_normal((channels, n_out)) / 3).astype(np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("Conv", ["x", "C1"], ["c1"], pads=[1, 1, 1, 1]),
            helper.make_node("Relu", ["c1"], ["r1"]),
            helper.make_node("Conv", ["r1", "C2"], ["c2"], pads=[1, 1, 1, 1]),
            helper.make_node("Relu", ["c2"], ["r2"]),
            helper.make_node("GlobalAveragePool", ["r2"], ["gap"]),
            helper.make_node("Flatten", ["gap"], ["flat"]),
            helper.make_node("Gemm", ["flat", "WD", "BD"], ["y"]),
        ],
        "cnn",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 1, size, size])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", n_out])],
        initializer=[
            numpy_helper.from_array(c1, "C1"),
            numpy_helper.from_array(c2, "C2"),
            numpy_helper.from_array(wd, "WD"),
            numpy_helper.from_array(np.zeros(n_out, np.float32), "BD"),
        ],
    )
    return _save(helper.make_model(graph, opset_imports=_opset()), path)


def string_input_model(path: Path) -> Path:
    """Identity on a string tensor ``s`` [batch]; shows string inputs pass unchanged."""
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Identity", ["s"], ["out"])],
        "strings",
        [helper.make_tensor_value_info("s", TensorProto.STRING, ["batch"])],
        [helper.make_tensor_value_info("out", TensorProto.STRING, ["batch"])],
    )
    return _save(helper.make_model(graph, opset_imports=_opset()), path)


def sklearn_pmml(path: Path, seed: int = 0) -> tuple[Path, object, np.ndarray]:
    """A tiny LogisticRegression as PMML (sklearn2pmml); returns (path, fitted pipeline, X)."""
    import pandas as pd
    from sklearn.linear_model import LogisticRegression
    from sklearn2pmml import sklearn2pmml
    from sklearn2pmml.pipeline import PMMLPipeline

    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.standard_normal((80, 3)), columns=["a", "b", "c"])
    y = (X.a + 0.5 * X.b > 0).astype(int)
    pipe = PMMLPipeline([("clf", LogisticRegression())])
    pipe.fit(X, y)
    path.parent.mkdir(parents=True, exist_ok=True)
    sklearn2pmml(pipe, str(path))
    return path, pipe, X


def keras_savedmodel(folder: Path, seed: int = 0) -> tuple[Path, object]:
    """A tiny keras Sequential exported as a SavedModel folder; returns (folder, model)."""
    import keras

    keras.utils.set_random_seed(seed)
    model = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(3, activation="relu"), keras.layers.Dense(2)]
    )
    model.export(str(folder), verbose=False)
    return folder, model


def constant_model(path: Path, n_in: int = 2) -> Path:
    """``y = 0 * x + 1``: outputs without variance, which validation marks ``weak``."""
    from onnx import TensorProto, helper, numpy_helper

    graph = helper.make_graph(
        [helper.make_node("Mul", ["x", "Z"], ["m"]), helper.make_node("Add", ["m", "C"], ["y"])],
        "constant",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", n_in])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", n_in])],
        initializer=[
            numpy_helper.from_array(np.zeros(n_in, np.float32), "Z"),
            numpy_helper.from_array(np.ones(n_in, np.float32), "C"),
        ],
    )
    return _save(helper.make_model(graph, opset_imports=_opset()), path)

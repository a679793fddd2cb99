"""Pushing in-memory Keras models and tf.Modules through to runtime.load (slow: TensorFlow).

These run on one SQLite registry of their own: the backend matters nothing here and
TensorFlow conversions are the slowest in the suite.
"""

from __future__ import annotations

import numpy as np
import pytest

import runtime
from clients import Registry
from tests.conftest import start_registry, stop_registry

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tf_reg(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("tf")
    live = start_registry(tmp / "data", f"sqlite:///{tmp / 'registry.db'}")
    with Registry(live.url) as reg:
        yield reg
    stop_registry(live)


def _x():
    return np.random.default_rng(0).standard_normal((6, 4)).astype(np.float32)


def test_keras_model(tf_reg, tmp_path):
    keras = pytest.importorskip("keras")

    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(3)]
    )
    info = tf_reg.push(model, "keras-mlp", targets="onnx", wait=True, timeout=300)
    assert info.framework == "keras"
    assert info.source.filename == "model.keras"
    assert info.status == "ready", info.to_dict()
    loaded = runtime.load("keras-mlp:1", registry=tf_reg.url, format="onnx", cache_dir=tmp_path)
    x = _x()
    np.testing.assert_allclose(loaded.predict(x), model.predict(x, verbose=0), atol=1e-5)


def test_tf_module(tf_reg, tmp_path):
    tf = pytest.importorskip("tensorflow")

    class Linear(tf.Module):
        def __init__(self):
            super().__init__()
            self.w = tf.Variable(tf.random.stateless_normal((4, 2), seed=(1, 2)))

        @tf.function(input_signature=[tf.TensorSpec([None, 4], tf.float32, name="x")])
        def __call__(self, x):
            return {"y": tf.matmul(x, self.w)}

    module = Linear()
    info = tf_reg.push(module, "tf-linear", targets="onnx", wait=True, timeout=300)
    assert info.framework == "tensorflow"
    assert info.source.filename == "saved_model.zip"
    assert info.status == "ready", info.to_dict()
    loaded = runtime.load("tf-linear:1", registry=tf_reg.url, format="onnx", cache_dir=tmp_path)
    x = _x()
    np.testing.assert_allclose(loaded.predict(x), module(x)["y"].numpy(), atol=1e-5)

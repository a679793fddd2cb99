"""Post-processing declared at upload travels inside the ONNX artifact: torch and Keras
classifiers answer labels and probabilities like a scikit-learn classifier, checked
over real HTTP against the source network with the same post-processing in numpy."""

from __future__ import annotations

import json

import numpy as np
import pytest

import runtime
from tests.api.conftest import assert_problem, upload, wait_done

pytestmark = [pytest.mark.slow, pytest.mark.parametrize("live_registry", ["sqlite"], indirect=True)]

X = np.random.default_rng(3).standard_normal((16, 4)).astype(np.float32)
LABELS = ["cat", "dog", "eel"]


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


@pytest.fixture(scope="module")
def torch_net(tmp_path_factory):
    import torch

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    net.eval()
    program = torch.export.export(
        net, (torch.randn(2, 4),), dynamic_shapes=({0: torch.export.Dim("batch")},)
    )
    path = tmp_path_factory.mktemp("torch") / "net.pt2"
    torch.export.save(program, str(path))
    with torch.no_grad():
        logits = net(torch.from_numpy(X)).numpy()
    return path, logits


@pytest.fixture(scope="module")
def keras_binary(tmp_path_factory):
    import keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((4,), name="features"), keras.layers.Dense(1, name="logit")]
    )
    path = tmp_path_factory.mktemp("keras") / "binary.keras"
    model.save(str(path))
    return path, np.asarray(model(X))


def _push(client, name, path, post, **fields):
    options = {"postprocess": post} if post else {}
    options.update(fields.pop("options", {}))
    resp = upload(client, name, path, options=json.dumps(options), **fields)
    assert resp.status_code == 202, resp.text
    return wait_done(client, name, resp.json()["version"], timeout=300)


def test_torch_softmax_labels_top_k(live_registry, registry_client, unique_name, torch_net):
    path, logits = torch_net
    post = {"activation": "softmax", "labels": LABELS, "top_k": 2}
    doc = _push(registry_client, unique_name, path, post)
    onnx = next(a for a in doc["artifacts"] if a["format"] == "onnx")
    assert doc["status"] == "ready" and onnx["status"] == "passed", onnx
    names = [o["name"] for o in doc["signature"]["outputs"]]
    assert names == ["label", "probabilities", "top_k_labels", "top_k_probabilities"]
    assert doc["lineage"]["postprocess"] == post

    model = runtime.load(f"{unique_name}:1", registry=live_registry.url)
    probs = _softmax(logits)
    np.testing.assert_allclose(model.predict_proba(X), probs, rtol=1e-4, atol=1e-5)
    assert list(model.predict(X)) == [LABELS[i] for i in probs.argmax(axis=1)]
    out = model.run(X)
    top = np.argsort(-probs, axis=1, kind="stable")[:, :2]
    assert out["top_k_labels"].tolist() == [[LABELS[i] for i in row] for row in top]
    np.testing.assert_allclose(
        out["top_k_probabilities"], np.take_along_axis(probs, top, 1), rtol=1e-4, atol=1e-5
    )


def test_keras_binary_sigmoid_answers_two_columns(
    live_registry, registry_client, unique_name, keras_binary
):
    path, logit = keras_binary
    doc = _push(registry_client, unique_name, path, {"activation": "sigmoid"})
    by_format = {a["format"]: a for a in doc["artifacts"]}
    assert by_format["onnx"]["status"] == "passed", by_format["onnx"]
    assert by_format["savedmodel"]["status"] == "skipped"  # post-processing is ONNX-only
    model = runtime.load(f"{unique_name}:1", registry=live_registry.url, format="onnx")
    p = 1 / (1 + np.exp(-logit[:, 0]))
    np.testing.assert_allclose(model.predict_proba(X), np.stack([1 - p, p], 1), atol=1e-5)
    np.testing.assert_array_equal(model.predict(X), (p > 0.5).astype(np.int64))


@pytest.mark.parametrize(
    "post",
    [
        {"activation": "relu"},
        {"labels": "cat,dog"},
        {"labels": ["a", "a"]},
        {"top_k": 0},
        {"top_k": True},
        {"argmax": True},
        "softmax",
    ],
)
def test_bad_postprocess_is_refused_at_upload(registry_client, unique_name, torch_net, post):
    resp = upload(
        registry_client, unique_name, torch_net[0], options=json.dumps({"postprocess": post})
    )
    assert_problem(resp, 422, "InvalidUpload")
    assert registry_client.get(f"/api/v1/models/{unique_name}").status_code == 404


def test_wrong_label_count_fails_the_conversion_clearly(registry_client, unique_name, torch_net):
    doc = _push(registry_client, unique_name, torch_net[0], {"labels": ["a", "b"]})
    assert doc["status"] == "failed" and "2 labels but the network answers 3" in doc["error"]


@pytest.fixture(scope="module")
def tf_scorer(tmp_path_factory):
    import shutil

    import tensorflow as tf

    rng = np.random.default_rng(5)
    w = tf.Variable(rng.standard_normal((4, 3)).astype("float32"))

    class Scorer(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, 4], tf.float32, name="x")])
        def serve(self, x):
            return {"scores": tf.matmul(x, w)}

    module = Scorer()
    module.w = w
    folder = tmp_path_factory.mktemp("tf")
    tf.saved_model.save(
        module, str(folder / "scorer"), signatures={"serving_default": module.serve}
    )
    archive = shutil.make_archive(str(folder / "scorer"), "zip", folder, "scorer")
    return archive, X @ w.numpy()


def test_tensorflow_softmax_with_labels(live_registry, registry_client, unique_name, tf_scorer):
    from pathlib import Path

    path, logits = tf_scorer
    doc = _push(registry_client, unique_name, Path(path), {"labels": LABELS})
    onnx = next(a for a in doc["artifacts"] if a["format"] == "onnx")
    assert onnx["status"] == "passed", onnx
    model = runtime.load(f"{unique_name}:1", registry=live_registry.url, format="onnx")
    probs = _softmax(logits)
    np.testing.assert_allclose(model.predict_proba(X), probs, rtol=1e-4, atol=1e-5)
    assert list(model.predict(X)) == [LABELS[i] for i in probs.argmax(axis=1)]


@pytest.fixture(scope="module")
def scaler_file(tmp_path_factory):
    import skops.io as sio
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(7)
    scaler = StandardScaler().fit(rng.normal(3.0, 2.0, size=(200, 4)).astype(np.float32))
    path = tmp_path_factory.mktemp("scaler") / "scaler.skops"
    sio.dump(scaler, path)
    return path, scaler


def test_registered_scaler_composes_in_front_of_a_torch_network(
    live_registry, registry_client, unique_name, torch_net, scaler_file
):
    import torch

    scaler_name = f"{unique_name}-scaler"
    doc = _push(registry_client, scaler_name, scaler_file[0], None)
    assert doc["status"] == "ready", doc
    registry_client.put(f"/api/v1/models/{scaler_name}/aliases/prod", json={"version": 1})
    options = {"preprocess": {"model": f"{scaler_name}@prod"}}
    post = {"activation": "softmax", "labels": LABELS}
    doc = _push(registry_client, unique_name, torch_net[0], post, options=options)
    onnx = next(a for a in doc["artifacts"] if a["format"] == "onnx")
    assert onnx["status"] == "passed", onnx["error"]
    assert doc["options"]["preprocess"] == {"model": f"{scaler_name}:1"}  # pinned at upload
    assert doc["lineage"]["preprocess"] == f"{scaler_name}:1"
    assert [t["name"] for t in doc["signature"]["inputs"]] == ["X"]  # the scaler's input

    raw = np.random.default_rng(9).normal(3.0, 2.0, size=(10, 4)).astype(np.float32)
    net = torch.export.load(str(torch_net[0])).module()
    with torch.no_grad():
        logits = net(torch.from_numpy(scaler_file[1].transform(raw).astype(np.float32))).numpy()
    model = runtime.load(f"{unique_name}:1", registry=live_registry.url)
    np.testing.assert_allclose(model.predict_proba(raw), _softmax(logits), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(
    ("pre", "text"),
    [
        ({"model": "no-such-scaler:1"}, "not registered"),
        ({"model": "a b"}, "preprocess model"),
        ({"name": "x"}, "one key, model"),
    ],
)
def test_bad_preprocess_is_refused_at_upload(registry_client, unique_name, torch_net, pre, text):
    resp = upload(
        registry_client, unique_name, torch_net[0], options=json.dumps({"preprocess": pre})
    )
    assert text in assert_problem(resp, 422, "InvalidUpload")["detail"]

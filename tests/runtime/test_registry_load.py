"""runtime.load against a real registry over HTTP (SQLite and PostgreSQL backends)."""

from __future__ import annotations

import uuid

import numpy as np
import onnxruntime as ort
import pytest

import runtime
from runtime.errors import AliasNotFound, ArtifactNotFound, ModelNotFound, VersionNotFound
from tests.factories.onnx_models import linear_model
from tests.factories.runtime_models import classifier_model
from tests.runtime._registry_helpers import artifact, push, set_alias

X = np.random.default_rng(0).standard_normal((6, 4)).astype(np.float32)


@pytest.fixture(scope="module")
def pushed(live_registry, tmp_path_factory):
    """Two versions of one model, pushed once per backend: v1 linear, v2 a classifier."""
    tmp = tmp_path_factory.mktemp("pushed")
    name = f"rt-{uuid.uuid4().hex[:10]}"
    v1 = linear_model(tmp / "v1.onnx", n_in=4, n_out=2, seed=11)
    v2 = classifier_model(tmp / "v2.onnx", n_in=4, n_classes=3, seed=12)
    with live_registry.client() as client:
        docs = [push(client, name, v1), push(client, name, v2)]
    return name, (v1, v2), docs


def _raw(path):
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"x": X})


def test_load_pinned_version_downloads_once_then_serves_from_cache(live_registry, pushed, tmp_path):
    name, (v1, _), docs = pushed
    cache = tmp_path / "cache"
    first = runtime.load(f"{name}:1", registry=live_registry.url, cache_dir=cache)
    second = runtime.load(f"{name}:1", registry=live_registry.url, cache_dir=cache)
    assert (first.info.origin, second.info.origin) == ("download", "cache")
    np.testing.assert_array_equal(first.predict(X), _raw(v1)[0])
    sha = artifact(docs[0])["sha256"]
    assert first.info.sha256 == sha and first.info.version == 1 and first.info.name == name
    assert first.info.framework == "onnx"
    assert (cache / "blobs" / "sha256" / sha[:2] / sha[2:]).is_file()


@pytest.mark.parametrize("suffix", ["", ":latest"])
def test_latest_resolves_to_the_newest_version(live_registry, pushed, tmp_path, suffix):
    name, (_, v2), _ = pushed
    model = runtime.load(name + suffix, registry=live_registry.url, cache_dir=tmp_path / "c")
    assert model.info.version == 2
    np.testing.assert_array_equal(model.predict_proba(X), _raw(v2)[1])


def test_alias_resolves_to_its_version(live_registry, registry_client, pushed, tmp_path):
    name, (v1, _), _ = pushed
    set_alias(registry_client, name, "production", 1)
    model = runtime.load(f"{name}@production", registry=live_registry.url, cache_dir=tmp_path / "c")
    assert model.info.version == 1
    np.testing.assert_array_equal(model.predict(X), _raw(v1)[0])


def test_registry_url_and_cache_from_the_environment(live_registry, pushed, tmp_path, monkeypatch):
    name, _, _ = pushed
    monkeypatch.setenv("MODELPORT_URL", live_registry.url)
    monkeypatch.setenv("MODELPORT_CACHE", str(tmp_path / "env-cache"))
    model = runtime.load(f"{name}:2")
    assert model.info.registry == live_registry.url
    assert str(model.info.path).startswith(str(tmp_path / "env-cache"))


def test_forcing_a_format_the_version_lacks_lists_what_it_has(live_registry, pushed, tmp_path):
    name, _, _ = pushed
    with pytest.raises(
        ArtifactNotFound, match=r"no usable 'pmml' artifact; its artifacts: .*onnx \(passed\)"
    ):
        runtime.load(f"{name}:1", format="pmml", registry=live_registry.url, cache_dir=tmp_path)


@pytest.mark.parametrize(
    ("ref", "error"),
    [
        ("{name}-missing:1", ModelNotFound),
        ("{name}:9", VersionNotFound),
        ("{name}@nope", AliasNotFound),
    ],
)
def test_unknown_references_raise_the_matching_error(live_registry, pushed, tmp_path, ref, error):
    name, _, _ = pushed
    with pytest.raises(error, match="404"):
        runtime.load(ref.format(name=name), registry=live_registry.url, cache_dir=tmp_path)


def test_warm_load_opens_the_cached_graph(live_registry, pushed, tmp_path):
    name, (v1, _), _ = pushed
    cache = tmp_path / "cache"
    first = runtime.load(f"{name}:1", registry=live_registry.url, cache_dir=cache)
    again = runtime.load(f"{name}:1", registry=live_registry.url, cache_dir=cache)
    assert (first.info.origin, first.info.graph) == ("download", "saved")
    assert (again.info.origin, again.info.graph) == ("cache", "cached")
    np.testing.assert_array_equal(again.predict(X), _raw(v1)[0])


def test_tampered_graph_is_rebuilt_from_the_verified_artifact(live_registry, pushed, tmp_path):
    name, (v1, _), _ = pushed
    cache = tmp_path / "cache"
    model = runtime.load(f"{name}:1", registry=live_registry.url, cache_dir=cache)
    (graph,) = (cache / "graphs" / model.info.sha256).glob("*.onnx")
    data = bytearray(graph.read_bytes())
    data[-5] ^= 0xFF
    graph.write_bytes(bytes(data))
    with pytest.warns(RuntimeWarning, match="optimised graph .* is corrupt"):
        model = runtime.load(f"{name}:1", registry=live_registry.url, cache_dir=cache)
    assert (model.info.origin, model.info.graph) == ("cache", "saved")
    np.testing.assert_array_equal(model.predict(X), _raw(v1)[0])


@pytest.mark.parametrize("verify", ["full", "stat"])
def test_tampered_cache_file_is_refused_and_fetched_again(live_registry, pushed, tmp_path, verify):
    import os

    name, (v1, _), docs = pushed
    cache = tmp_path / "cache"
    first = runtime.load(f"{name}:1", registry=live_registry.url, cache_dir=cache, verify=verify)
    assert first.info.graph == "saved"  # a warm load would open the graph, not the blob
    sha = artifact(docs[0])["sha256"]
    blob = cache / "blobs" / "sha256" / sha[:2] / sha[2:]
    before = blob.stat()
    data = bytearray(blob.read_bytes())
    data[-5] ^= 0xFF
    blob.write_bytes(bytes(data))
    os.utime(blob, ns=(before.st_atime_ns, before.st_mtime_ns))  # same size and mtime
    with pytest.warns(RuntimeWarning, match="corrupt"):
        model = runtime.load(
            f"{name}:1", registry=live_registry.url, cache_dir=cache, verify=verify
        )
    assert model.info.origin == "download"
    np.testing.assert_array_equal(model.predict(X), _raw(v1)[0])
    assert blob.read_bytes() == v1.read_bytes()


def test_pulled_folder_loads_with_its_manifest(live_registry, pushed, tmp_path):
    from clients import Registry

    name, (v1, _), _ = pushed
    with Registry(live_registry.url) as reg:
        reg.pull(f"{name}:1", dest=str(tmp_path / "pulled") + "/")
    model = runtime.load(tmp_path / "pulled")
    assert (model.info.name, model.info.version, model.info.origin) == (name, 1, "file")
    np.testing.assert_array_equal(model.predict(X), _raw(v1)[0])


def test_pulled_folder_manifest_is_typed_and_a_broken_one_names_its_field(
    live_registry, pushed, tmp_path
):
    import json

    from clients import Registry
    from runtime import PULL_MANIFEST, PullManifest
    from runtime.errors import DocumentError

    name, (v1, _), _ = pushed
    folder = tmp_path / "pulled"
    with Registry(live_registry.url) as reg:
        reg.pull(f"{name}:1", dest=str(folder) + "/")
    data = json.loads((folder / PULL_MANIFEST).read_text())
    manifest = PullManifest.from_json(data)
    assert (manifest.ref, manifest.format) == (f"{name}:1", "onnx")
    assert manifest.signature is not None and manifest.signature.inputs
    assert manifest.to_json() == data  # what pull wrote is exactly the typed document
    (folder / PULL_MANIFEST).write_text(json.dumps({**data, "version": "one"}))
    with pytest.raises(DocumentError, match=r"pull manifest: version must be an integer"):
        runtime.load(folder)


def test_weak_artifact_loads_with_a_warning(live_registry, registry_client, unique_name, tmp_path):
    from tests.factories.runtime_models import constant_model

    doc = push(registry_client, unique_name, constant_model(tmp_path / "const.onnx"))
    assert artifact(doc)["status"] == "weak"
    with pytest.warns(RuntimeWarning, match=r"onnx artifact is 'weak'"):
        model = runtime.load(f"{unique_name}:1", registry=live_registry.url, cache_dir=tmp_path)
    np.testing.assert_array_equal(model.predict(np.zeros((2, 2), np.float32)), np.ones((2, 2)))


@pytest.mark.parametrize("damage", ["weights", "header"])
def test_tampered_large_cache_file_is_never_served(
    live_registry, registry_client, tmp_path, damage
):
    """Blobs above the overlap threshold are opened while they are hashed: a model built
    from bytes that fail the check must be thrown away and the blob fetched again."""
    from runtime import _load

    name = f"big-{uuid.uuid4().hex[:8]}"
    path = linear_model(tmp_path / "big.onnx", n_in=1100, n_out=1000, seed=3)
    assert path.stat().st_size > _load._OVERLAP_MIN_BYTES
    doc = push(registry_client, name, path)
    cache = tmp_path / "cache"
    x = np.random.default_rng(1).standard_normal((3, 1100)).astype(np.float32)
    expected = ort.InferenceSession(str(path)).run(None, {"x": x})[0]
    assert runtime.load(f"{name}:1", registry=live_registry.url, cache_dir=cache).info.origin
    sha = artifact(doc)["sha256"]
    blob = cache / "blobs" / "sha256" / sha[:2] / sha[2:]
    data = bytearray(blob.read_bytes())
    if damage == "weights":  # still a valid model, with other numbers
        data[len(data) // 2] ^= 0x40
    else:  # no longer parses
        data[:16] = b"\xff" * 16
    blob.write_bytes(bytes(data))
    with pytest.warns(RuntimeWarning, match="corrupt"):
        model = runtime.load(f"{name}:1", registry=live_registry.url, cache_dir=cache)
    assert model.info.origin == "download"
    np.testing.assert_array_equal(model.predict(x), expected)
    assert blob.read_bytes() == path.read_bytes()
    again = runtime.load(f"{name}:1", registry=live_registry.url, cache_dir=cache)
    assert again.info.origin == "cache"

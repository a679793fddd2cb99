"""The cache with a registry that goes away: offline loads, integrity, several processes."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

import runtime
from runtime.errors import IntegrityError, NotCached, RegistryUnavailable
from tests.conftest import ROOT, start_registry, stop_registry
from tests.factories.onnx_models import linear_model
from tests.runtime._registry_helpers import artifact, push, set_alias

X = np.ones((2, 4), np.float32)


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    """A running registry holding e0, e1, e2 (one version each), shared by the online tests."""
    tmp = tmp_path_factory.mktemp("online")
    reg = start_registry(tmp / "data", f"sqlite:///{tmp / 'registry.db'}")
    try:
        with reg.client() as client:
            reg.docs = [
                push(client, f"e{i}", linear_model(tmp / f"e{i}.onnx", seed=20 + i))
                for i in range(3)
            ]
        yield reg
    finally:
        stop_registry(reg)


@pytest.fixture(scope="module")
def offline_seed(tmp_path_factory):
    """Model 'm' with v1 (aliased 'production') and v2, loaded once into a template cache
    through every kind of reference; then the registry is stopped for good."""
    tmp = tmp_path_factory.mktemp("offline")
    reg = start_registry(tmp / "data", f"sqlite:///{tmp / 'registry.db'}")
    cache = tmp / "cache"
    try:
        with reg.client() as client:
            docs = [push(client, "m", linear_model(tmp / f"v{i}.onnx", seed=i)) for i in (1, 2)]
            set_alias(client, "m", "production", 1)
            split = {"weights": {"1": 50, "2": 50}}
            assert client.put("/api/v1/models/m/aliases/canary", json=split).status_code == 200
        for ref in ("m:1", "m@production", "m", "m:latest"):
            runtime.load(ref, registry=reg.url, cache_dir=cache)
        for key in _STICKY:
            runtime.load("m@canary", registry=reg.url, cache_dir=cache, sticky=key)
        expected = runtime.load("m:1", registry=reg.url, cache_dir=cache).predict(X)
    finally:
        stop_registry(reg)
    return reg.url, cache, docs, expected


@pytest.fixture
def seeded(offline_seed, tmp_path):
    """A private copy of the seeded cache, next to the stopped registry's URL."""
    url, template, docs, expected = offline_seed
    cache = tmp_path / "cache"
    shutil.copytree(template, cache)
    return url, cache, docs, expected


def test_pinned_version_loads_offline_without_warning(seeded, recwarn):
    url, cache, _, expected = seeded
    model = runtime.load("m:1", registry=url, cache_dir=cache)
    assert model.info.origin == "cache"
    np.testing.assert_array_equal(model.predict(X), expected)
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]


@pytest.mark.parametrize(("ref", "version"), [("m@production", 1), ("m", 2), ("m:latest", 2)])
def test_alias_and_latest_resolve_to_last_known_target_with_a_warning(seeded, ref, version):
    url, cache, _, _ = seeded
    with pytest.warns(RuntimeWarning, match=rf"unreachable; .* last known target m:{version}"):
        model = runtime.load(ref, registry=url, cache_dir=cache)
    assert model.info.version == version


_STICKY = ("a", "b", "c", "d", "e", "f")


def test_weighted_alias_offline_picks_from_the_last_known_split(seeded):
    url, cache, _, _ = seeded
    target = runtime.AliasTarget("m", "canary", ((1, 50), (2, 50)))
    assert {target.pick(k) for k in _STICKY} == {1, 2}  # the keys cover both versions
    for key in _STICKY:
        with pytest.warns(RuntimeWarning, match=r"last known target m:\d \(split"):
            model = runtime.load("m@canary", registry=url, cache_dir=cache, sticky=key)
        assert model.info.version == target.pick(key)
        assert model.info.weights == {1: 50, 2: 50}


def test_nothing_cached_offline_says_so(seeded, tmp_path):
    url = seeded[0]
    with pytest.raises(RegistryUnavailable, match="unreachable and nothing is cached for other:1"):
        runtime.load("other:1", registry=url, cache_dir=tmp_path / "empty")
    with pytest.raises(RegistryUnavailable, match="nothing is cached for other@prod"):
        runtime.load("other@prod", registry=url, cache_dir=tmp_path / "empty")


def test_cached_document_without_blob_offline_is_not_cached(seeded):
    url, cache, docs, _ = seeded
    sha = artifact(docs[0])["sha256"]
    (cache / "blobs" / "sha256" / sha[:2] / sha[2:]).unlink()
    with pytest.raises(
        NotCached, match="unreachable and the onnx artifact of m:1 is not in the cache"
    ):
        runtime.load("m:1", registry=url, cache_dir=cache)


def test_tampered_cache_offline_is_refused(seeded):
    url, cache, docs, _ = seeded
    sha = artifact(docs[0])["sha256"]
    blob = cache / "blobs" / "sha256" / sha[:2] / sha[2:]
    blob.write_bytes(blob.read_bytes()[:-1] + b"\x00")
    with pytest.warns(RuntimeWarning, match="corrupt"), pytest.raises(NotCached):
        runtime.load("m:1", registry=url, cache_dir=cache)
    assert not blob.exists()


def test_download_not_matching_the_announced_sha256_is_refused_and_not_kept(registry, tmp_path):
    with registry.client() as client:
        doc = push(client, "bad", linear_model(tmp_path / "bad.onnx", seed=5))
    sha = artifact(doc)["sha256"]
    stored = registry.data_dir / "blobs" / "sha256" / sha[:2] / sha[2:]
    data = bytearray(stored.read_bytes())
    data[10] ^= 0xFF  # same size, different bytes: the server's copy rotted
    stored.write_bytes(bytes(data))
    cache = tmp_path / "cache"
    with pytest.raises(IntegrityError, match="nothing was kept"):
        runtime.load("bad:1", registry=registry.url, cache_dir=cache)
    blobs = cache / "blobs"
    assert not [p for p in blobs.rglob("*") if p.is_file()]


_LOADER = """
import json, sys, runtime
m = runtime.load("e0:1", registry=sys.argv[1], cache_dir=sys.argv[2])
print(json.dumps({"origin": m.info.origin}))
"""


def test_several_processes_loading_at_once_download_once(registry, tmp_path):
    cache = tmp_path / "shared-cache"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _LOADER, registry.url, str(cache)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        for _ in range(4)
    ]
    origins = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        origins.append(json.loads(out.strip().splitlines()[-1])["origin"])
    assert sorted(origins) == ["cache", "cache", "cache", "download"]


def test_lru_eviction_keeps_the_cache_under_its_bound(registry, tmp_path):
    docs = registry.docs
    size = max(artifact(d)["size"] for d in docs)
    cache = tmp_path / "cache"
    for i in range(3):  # blobs only here; optimised graphs are counted in test_graph_cache
        runtime.load(
            f"e{i}:1", registry=registry.url, cache_dir=cache, cache_max=2 * size, graph_cache=False
        )
    present = {
        d["name"]
        for d in docs
        if (
            cache / "blobs" / "sha256" / artifact(d)["sha256"][:2] / artifact(d)["sha256"][2:]
        ).exists()
    }
    assert present == {"e1", "e2"}  # e0 was the least recently used


def test_cache_max_from_the_environment(registry, tmp_path, monkeypatch):
    monkeypatch.setenv("MODELPORT_CACHE_MAX", "1")
    cache = tmp_path / "cache"
    runtime.load("e0:1", registry=registry.url, cache_dir=cache)
    model = runtime.load("e1:1", registry=registry.url, cache_dir=cache)
    assert [p.name for p in (cache / "blobs" / "sha256").rglob("*") if p.is_file()] == [
        model.info.sha256[2:]
    ]  # the model in use stays even over the bound


def test_eviction_takes_a_blobs_optimised_graphs_with_it(registry, tmp_path):
    cache = tmp_path / "cache"
    first = runtime.load("e0:1", registry=registry.url, cache_dir=cache)
    assert first.info.graph == "saved"
    assert list((cache / "graphs" / first.info.sha256).glob("*.onnx"))
    second = runtime.load("e1:1", registry=registry.url, cache_dir=cache, cache_max=1)
    assert not (cache / "graphs" / first.info.sha256).exists()
    assert list((cache / "graphs" / second.info.sha256).glob("*.onnx"))


def test_a_graph_without_its_blob_is_not_a_cached_model(seeded):
    """Offline with the artifact gone, the leftover graph is not served on its own."""
    url, cache, docs, _ = seeded
    sha = artifact(docs[0])["sha256"]
    assert list((cache / "graphs" / sha).glob("*.onnx"))
    (cache / "blobs" / "sha256" / sha[:2] / sha[2:]).unlink()
    with pytest.raises(NotCached):
        runtime.load("m:1", registry=url, cache_dir=cache)

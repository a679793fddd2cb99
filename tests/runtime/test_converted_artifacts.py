"""Every backend on artifacts the converters produced, served by a real registry (slow)."""

from __future__ import annotations

import uuid

import numpy as np
import pytest

import runtime
from tests.conftest import start_registry, stop_registry
from tests.runtime._registry_helpers import artifact

pytestmark = pytest.mark.slow

# The job worker runs under a 4 GiB address-space limit, inside which a default JVM
# (sklearn2pmml, pypmml) cannot reserve its heap; bounded sizes let it start.
JVM_OPTIONS = "-Xmx512m -XX:ReservedCodeCacheSize=64m -XX:CompressedClassSpaceSize=64m"


@pytest.fixture(scope="module")
def converting_registry(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("converting")
    reg = start_registry(
        tmp / "data", f"sqlite:///{tmp / 'registry.db'}", {"JAVA_TOOL_OPTIONS": JVM_OPTIONS}
    )
    try:
        yield reg
    finally:
        stop_registry(reg)


def _push(client, name: str, path, targets: str) -> dict:
    import time

    with path.open("rb") as fh:
        resp = client.post(
            f"/api/v1/models/{name}/versions",
            files={"file": (path.name, fh, "application/octet-stream")},
            data={"targets": targets},
        )
    assert resp.status_code == 202, resp.text
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        body = client.get(f"/api/v1/models/{name}/versions/1").json()
        if body["status"] in ("ready", "failed"):
            return body
        time.sleep(0.2)
    raise AssertionError(f"{name}:1 not converted in time")


def test_sklearn_forest_as_onnx_and_pmml(converting_registry, tmp_path):
    pytest.importorskip("skops")
    import skops.io as sio
    from sklearn.ensemble import RandomForestClassifier

    rng = np.random.default_rng(0)
    x = rng.standard_normal((120, 4)).astype(np.float32)
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(np.int64)
    est = RandomForestClassifier(n_estimators=8, max_depth=4, random_state=0).fit(x, y)
    path = tmp_path / "forest.skops"
    sio.dump(est, path)
    name = f"forest-{uuid.uuid4().hex[:8]}"
    with converting_registry.client() as client:
        doc = _push(client, name, path, "onnx,pmml")
    assert artifact(doc, "onnx")["status"] == "passed", doc
    assert artifact(doc, "pmml")["status"] == "passed", doc

    cache = tmp_path / "cache"
    default = runtime.load(f"{name}:1", registry=converting_registry.url, cache_dir=cache)
    pmml = runtime.load(
        f"{name}:1", registry=converting_registry.url, cache_dir=cache, format="pmml"
    )
    assert (default.info.format, pmml.info.format) == ("onnx", "pmml")
    assert default.info.framework == pmml.info.framework == "sklearn"
    probe = x[:20]
    expected = est.predict_proba(probe)
    np.testing.assert_allclose(default.predict_proba(probe), expected, atol=1e-5)
    np.testing.assert_allclose(pmml.predict_proba(probe), expected, atol=1e-5)
    np.testing.assert_array_equal(pmml.predict(probe), est.predict(probe))


def test_keras_model_as_savedmodel(converting_registry, tmp_path):
    pytest.importorskip("keras")
    from tests.frameworks.keras import build_sequential

    model = build_sequential()
    path = tmp_path / "seq.keras"
    model.save(str(path))
    name = f"keras-{uuid.uuid4().hex[:8]}"
    with converting_registry.client() as client:
        doc = _push(client, name, path, "savedmodel")
    assert artifact(doc, "savedmodel")["status"] == "passed", doc

    loaded = runtime.load(
        f"{name}:1", registry=converting_registry.url, cache_dir=tmp_path / "c", format="savedmodel"
    )
    assert loaded.info.format == "savedmodel"
    x = np.random.default_rng(1).standard_normal((5, 4)).astype(np.float32)
    np.testing.assert_allclose(loaded.predict(x), model.predict(x, verbose=0), atol=1e-5)
    assert set(loaded.run(x)) == set(loaded.output_names)

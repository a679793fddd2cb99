"""A framework plug-in from another distribution: registered by entry point, detected by
its own sniffer, its own option declared and checked, converted and validated.

The test writes a distribution (``acme_plugin-1.0.dist-info`` with an
``entry_points.txt``) into a folder that only the registry server's ``PYTHONPATH``
names, so the plug-in is found the way an installed package is: by
``importlib.metadata`` in the API process (detection, options) and in the worker
(loading, converting).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import runtime
from tests.api.conftest import assert_problem, upload, wait_done
from tests.conftest import LiveRegistry, start_registry, stop_registry

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent


def _install(site: Path) -> None:
    """``acme_plugin`` as pip would leave it: the module and its dist-info."""
    site.mkdir(parents=True)
    shutil.copyfile(HERE / "acme_linear.py", site / "acme_plugin.py")
    info = site / "acme_plugin-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-plugin\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        "[modelport.converters]\n"
        "acme = acme_plugin:AcmeFramework\n"
        "acme:onnx = acme_plugin:AcmeToOnnx\n"
    )


@pytest.fixture(scope="module")
def acme_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveRegistry]:
    tmp = tmp_path_factory.mktemp("acme")
    _install(tmp / "site")
    reg = start_registry(
        tmp / "data",
        f"sqlite:///{tmp / 'registry.db'}",
        {"PYTHONPATH": f"{ROOT}:{tmp / 'site'}"},
    )
    try:
        yield reg
    finally:
        stop_registry(reg)


def _acme_file(path: Path) -> tuple[Path, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    weights = rng.standard_normal((3, 2)).astype(np.float32)
    bias = rng.standard_normal(2).astype(np.float32)
    doc = {"format": "acme-linear", "weights": weights.tolist(), "bias": bias.tolist()}
    path.write_text(json.dumps(doc))
    return path, weights, bias


@pytest.mark.slow
def test_entry_point_plugin_is_detected_converted_and_validated(acme_registry, tmp_path):
    path, weights, bias = _acme_file(tmp_path / "model.acme")
    with acme_registry.client() as client:
        resp = upload(client, "acme-lin", path, options=json.dumps({"scale": 2.5}))
        assert resp.status_code == 202, resp.text
        body = wait_done(client, "acme-lin", resp.json()["version"], timeout=120)
        assert body["status"] == "ready", body
        assert body["framework"] == "acme"  # no framework field: its sniffer claimed it
        assert body["options"] == {"scale": 2.5}
        (onnx_art,) = [a for a in body["artifacts"] if a["format"] == "onnx"]
        assert onnx_art["status"] == "passed", onnx_art
        assert onnx_art["validation"]["status"] == "passed"

        model = runtime.load("acme-lin:1", registry=acme_registry.url, cache_dir=tmp_path / "cache")
        x = np.ones((4, 3), dtype=np.float32)
        np.testing.assert_allclose(model.predict(x), 2.5 * (x @ weights + bias), rtol=1e-5)


def test_plugin_options_are_checked_where_declared(acme_registry, tmp_path):
    path, _, _ = _acme_file(tmp_path / "model.acme")
    with acme_registry.client() as client:
        bad = upload(client, "acme-bad", path, options=json.dumps({"scale": -1.0}))
        assert "'scale' must be > 0" in assert_problem(bad, 422, "InvalidUpload")["detail"]
        wrong = upload(client, "acme-bad", path, options=json.dumps({"scale": "big"}))
        assert "a number such as 2.5" in assert_problem(wrong, 422, "InvalidUpload")["detail"]
        unknown = upload(client, "acme-bad", path, options=json.dumps({"gain": 1.0}))
        detail = assert_problem(unknown, 422, "InvalidUpload")["detail"]
        assert "'gain'" in detail and "scale" in detail  # the plug-in's option is listed
        assert client.get("/api/v1/models/acme-bad").status_code == 404

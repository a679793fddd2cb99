"""``modelport export``: a Triton model repository checked by Triton's own ModelConfig
proto (tritonclient, in its own venv), and a KServe manifest checked offline."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest
from filelock import FileLock
from typer.testing import CliRunner

from clients.cli import app
from tests.conftest import _require
from tests.factories.runtime_models import classifier_model

pytestmark = pytest.mark.parametrize("live_registry", ["sqlite"], indirect=True)

TRITONCLIENT = "tritonclient[grpc]==2.73.0"
VENVS = Path(os.environ.get("MODELPORT_VENVS", Path.home() / ".cache" / "modelport-venvs"))

# prints Triton's parse of a config.pbtxt as JSON; unknown fields or bad enums fail it
_PARSE = """
import json, sys
from google.protobuf import json_format, text_format
from tritonclient.grpc import model_config_pb2
cfg = text_format.Parse(open(sys.argv[1]).read(), model_config_pb2.ModelConfig())
print(json.dumps(json_format.MessageToDict(cfg)))
"""


@pytest.fixture(scope="session")
def triton_python() -> Path:
    """A venv with tritonclient (it pins protobuf<7, which the main venv cannot take)."""
    venv = VENVS / "tritonclient-2.73.0"
    python = venv / "bin" / "python"
    VENVS.mkdir(parents=True, exist_ok=True)
    with FileLock(str(VENVS / "tritonclient.lock"), timeout=900):
        probe = [str(python), "-c", "import tritonclient.grpc.model_config_pb2"]
        if python.exists() and subprocess.run(probe, capture_output=True).returncode == 0:
            return python
        try:
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
            subprocess.run(
                [str(python), "-m", "pip", "install", "-q", TRITONCLIENT],
                check=True,
                capture_output=True,
                timeout=600,
            )
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
            if _require("MODELPORT_REQUIRE_TRITONCLIENT"):
                raise
            pytest.skip(f"cannot build the tritonclient venv: {exc}")
    return python


@pytest.fixture(scope="module")
def canary_model(live_registry, tmp_path_factory):
    """A classifier with two versions and production -> {1: 90, 2: 10}."""
    tmp = tmp_path_factory.mktemp("export")
    name = f"Exp_{uuid.uuid4().hex[:6]}.clf"
    with live_registry.client() as client:
        for seed in (1, 2):
            path = classifier_model(tmp / f"v{seed}.onnx", seed=seed)
            files = {"file": (path.name, path.read_bytes(), "application/octet-stream")}
            assert client.post(f"/api/v1/models/{name}/versions", files=files).status_code == 202
        for _ in range(600):
            docs = [client.get(f"/api/v1/models/{name}/versions/{v}").json() for v in (1, 2)]
            if all(d["status"] == "ready" for d in docs):
                break
            time.sleep(0.1)
        body = {"weights": {"1": 90, "2": 10}}
        assert client.put(f"/api/v1/models/{name}/aliases/production", json=body).status_code == 200
    return name, docs


def _cli(live_registry, *args):
    result = CliRunner().invoke(app, ["--url", live_registry.url, *args])
    assert result.exit_code == 0, result.output
    return result


def _onnx_sha(doc):
    return next(a["sha256"] for a in doc["artifacts"] if a["format"] == "onnx")


def test_triton_repository_parses_with_tritons_model_config(
    live_registry, canary_model, tmp_path, triton_python
):
    name, docs = canary_model
    _cli(live_registry, "export", f"{name}@production", str(tmp_path), "--layout", "triton")
    folder = tmp_path / name
    for doc in docs:
        blob = (folder / str(doc["version"]) / "model.onnx").read_bytes()
        assert hashlib.sha256(blob).hexdigest() == _onnx_sha(doc)
    parsed = subprocess.run(
        [str(triton_python), "-c", _PARSE, str(folder / "config.pbtxt")],
        capture_output=True,
        text=True,
    )
    assert parsed.returncode == 0, parsed.stderr
    cfg = json.loads(parsed.stdout)
    assert cfg["name"] == name and cfg["platform"] == "onnxruntime_onnx"
    assert cfg["maxBatchSize"] == 64 and "dynamicBatching" in cfg
    assert cfg["versionPolicy"] == {"specific": {"versions": ["1", "2"]}}
    assert cfg["input"] == [{"name": "x", "dataType": "TYPE_FP32", "dims": ["4"]}]
    assert cfg["output"] == [
        {"name": "label", "dataType": "TYPE_INT64", "dims": ["1"], "reshape": {}},
        {"name": "probabilities", "dataType": "TYPE_FP32", "dims": ["3"]},
    ]
    params = {k: v["stringValue"] for k, v in cfg["parameters"].items()}
    assert params["modelport.weights"] == "1=90 2=10"
    assert params["modelport.sha256.2"] == _onnx_sha(docs[1])


def test_triton_config_without_batching_keeps_full_dims(
    live_registry, canary_model, tmp_path, triton_python
):
    name, _ = canary_model
    args = ("export", f"{name}:2", str(tmp_path), "--max-batch-size", "0")
    _cli(live_registry, *args)
    assert sorted(p.name for p in (tmp_path / name).iterdir()) == ["2", "config.pbtxt"]
    parsed = subprocess.run(
        [str(triton_python), "-c", _PARSE, str(tmp_path / name / "config.pbtxt")],
        capture_output=True,
        text=True,
        check=True,
    )
    cfg = json.loads(parsed.stdout)
    assert "maxBatchSize" not in cfg and "dynamicBatching" not in cfg  # 0 is the default
    assert cfg["input"][0]["dims"] == ["-1", "4"]


def test_kserve_manifest_is_a_canary_of_the_split(live_registry, canary_model, tmp_path):
    import kubernetes_validate

    name, docs = canary_model
    out = tmp_path / "isvc.json"
    _cli(live_registry, "export", f"{name}@production", str(out), "--layout", "kserve")
    manifest = json.loads(out.read_text())
    assert (manifest["apiVersion"], manifest["kind"]) == (
        "serving.kserve.io/v1beta1",
        "InferenceService",
    )
    meta = manifest["metadata"]
    assert meta["name"] == name.lower().replace("_", "-").replace(".", "-")
    assert meta["annotations"]["modelport.io/sha256"] == _onnx_sha(docs[1])
    assert meta["annotations"]["modelport.io/primary-version"] == "1"
    predictor = manifest["spec"]["predictor"]
    assert predictor["canaryTrafficPercent"] == 10
    model = predictor["model"]
    assert model["modelFormat"] == {"name": "onnx"} and model["protocolVersion"] == "v2"
    assert model["storageUri"] == (
        f"{live_registry.url}/api/v1/models/{name}/versions/2/artifacts/onnx"
    )
    # the storage URI serves exactly the recorded digest
    blob = httpx.get(model["storageUri"]).content
    assert hashlib.sha256(blob).hexdigest() == meta["annotations"]["modelport.io/sha256"]
    # metadata is a Kubernetes ObjectMeta: checked with kubernetes-validate's own schema
    # (a ConfigMap carries the same ObjectMeta; the InferenceService CRD has no schema there)
    as_core = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": {}}
    kubernetes_validate.validate(as_core, "1.37.0", strict=True)


def test_kserve_refuses_a_three_way_split(live_registry, canary_model, tmp_path):
    name, _ = canary_model
    with httpx.Client(base_url=live_registry.url) as client:
        client.post(
            f"/api/v1/models/{name}/versions",
            files={"file": ("v3.onnx", classifier_model(tmp_path / "v3.onnx").read_bytes())},
        )
        for _ in range(600):
            if client.get(f"/api/v1/models/{name}/versions/3").json()["status"] == "ready":
                break
            time.sleep(0.1)
        split = {"weights": {"1": 80, "2": 10, "3": 10}}
        assert client.put(f"/api/v1/models/{name}/aliases/three", json=split).status_code == 200
    result = CliRunner().invoke(
        app, ["--url", live_registry.url, "export", f"{name}@three", "--layout", "kserve"]
    )
    assert result.exit_code == 5 and "two revisions" in result.output

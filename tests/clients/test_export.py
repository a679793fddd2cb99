"""``modelport export``: a Triton model repository checked by Triton's own ModelConfig
proto (tritonclient, in its own venv), and a KServe manifest checked offline."""

from __future__ import annotations

import copy
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
KSERVE = "kserve==0.21.0"
KSERVE_CHECK = Path(__file__).with_name("kserve_schema_check.py")
VENVS = Path(os.environ.get("MODELPORT_VENVS", Path.home() / ".cache" / "modelport-venvs"))

# prints Triton's parse of a config.pbtxt as JSON; unknown fields or bad enums fail it
_PARSE = """
import json, sys
from google.protobuf import json_format, text_format
from tritonclient.grpc import model_config_pb2
cfg = text_format.Parse(open(sys.argv[1]).read(), model_config_pb2.ModelConfig())
print(json.dumps(json_format.MessageToDict(cfg)))
"""


def _venv(name: str, requirement: str, probe: str, require_env: str) -> Path:
    """The python of a venv under VENVS holding ``requirement`` (built once, shared by runs);
    a venv that cannot be built is a skip, or a failure when ``require_env`` is set."""
    venv = VENVS / name
    python = venv / "bin" / "python"
    VENVS.mkdir(parents=True, exist_ok=True)
    # one lock per package (tests/api/serving takes the same tritonclient.lock)
    with FileLock(str(VENVS / f"{name.split('-')[0]}.lock"), timeout=900):
        probe_cmd = [str(python), "-c", f"import {probe}"]
        if python.exists() and subprocess.run(probe_cmd, capture_output=True).returncode == 0:
            return python
        try:
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
            subprocess.run(
                [str(python), "-m", "pip", "install", "-q", requirement],
                check=True,
                capture_output=True,
                timeout=600,
            )
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
            if _require(require_env):
                raise
            pytest.skip(f"cannot build the {name} venv: {exc}")
    return python


@pytest.fixture(scope="session")
def triton_python() -> Path:
    """A venv with tritonclient (it pins protobuf<7, which the main venv cannot take)."""
    return _venv(
        "tritonclient-2.73.0",
        TRITONCLIENT,
        "tritonclient.grpc.model_config_pb2",
        "MODELPORT_REQUIRE_TRITONCLIENT",
    )


@pytest.fixture(scope="module")
def kserve_python() -> Path:
    """A venv with kserve (it pins protobuf<7 and pandas<3) for its generated model classes."""
    return _venv("kserve-0.21.0", KSERVE, "kserve.models", "MODELPORT_REQUIRE_KSERVE")


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


@pytest.fixture(scope="module")
def kserve_export(live_registry, canary_model, tmp_path_factory):
    """The manifest ``export NAME@production --layout kserve`` writes."""
    out = tmp_path_factory.mktemp("kserve") / "isvc.json"
    _cli(live_registry, "export", f"{canary_model[0]}@production", str(out), "--layout", "kserve")
    return json.loads(out.read_text())


def _kserve_problems(kserve_python, manifest, tmp_path) -> list[str]:
    """What KServe's generated model classes refuse in ``manifest`` (tests/clients/
    kserve_schema_check.py, run in the kserve venv); empty when it fits."""
    path = tmp_path / f"isvc-{uuid.uuid4().hex[:6]}.json"
    path.write_text(json.dumps(manifest))
    checked = subprocess.run(
        [str(kserve_python), str(KSERVE_CHECK), str(path)], capture_output=True, text=True
    )
    assert checked.returncode in (0, 1), checked.stderr
    problems = checked.stdout.splitlines()
    assert (checked.returncode == 1) == bool(problems), checked.stdout
    return problems


def test_kserve_manifest_is_a_canary_of_the_split(
    live_registry, canary_model, kserve_export, kserve_python, tmp_path
):
    name, docs = canary_model
    manifest = kserve_export
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
    # the whole manifest fits KServe's own schema (V1beta1InferenceService and below,
    # ObjectMeta from the kubernetes client): every field known, typed, required ones there
    assert _kserve_problems(kserve_python, manifest, tmp_path) == []


def _misspelt(predictor):
    predictor["canaryTraficPercent"] = predictor.pop("canaryTrafficPercent")
    return "$.spec.predictor.canaryTraficPercent: not a field of V1beta1PredictorSpec"


def _wrong_type(predictor):
    predictor["canaryTrafficPercent"] = "10"
    return '$.spec.predictor.canaryTrafficPercent: expected int, got "10"'


def _required_missing(predictor):
    del predictor["model"]["modelFormat"]
    return "$.spec.predictor.model: V1beta1ModelSpec refuses it: Invalid value for `model_format`"


@pytest.mark.parametrize("breaks", [_misspelt, _wrong_type, _required_missing])
def test_kserve_schema_check_refuses_a_broken_manifest(
    kserve_export, kserve_python, tmp_path, breaks
):
    manifest = copy.deepcopy(kserve_export)
    expected = breaks(manifest["spec"]["predictor"])
    problems = _kserve_problems(kserve_python, manifest, tmp_path)
    assert len(problems) == 1 and problems[0].startswith(expected), problems


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

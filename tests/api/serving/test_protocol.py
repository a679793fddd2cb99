"""The V2 endpoints besides inference: health, server and model metadata, metrics; and
the server's import footprint (runtime and web stack only)."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import ROOT


def test_health_and_server_metadata(v2_server):
    with v2_server.client() as client:
        assert client.get("/v2/health/live").json() == {"live": True}
        assert client.get("/v2/health/ready").status_code == 200
        meta = client.get("/v2").json()
    assert meta["name"] == "modelport"
    assert meta["extensions"] == ["binary_tensor_data"]


def test_model_metadata_describes_the_signature(v2_server):
    with v2_server.client() as client:
        pair = client.get("/v2/models/pair").json()
        strings = client.get("/v2/models/strings/versions/1").json()
        ready = client.get("/v2/models/pair/versions/1/ready")
    assert pair == {
        "name": "pair",
        "versions": ["1"],
        "platform": "onnxruntime_onnx",
        "inputs": [
            {"name": "a", "datatype": "FP32", "shape": [-1, 1]},
            {"name": "b", "datatype": "INT64", "shape": [-1, 1]},
        ],
        "outputs": [{"name": "y", "datatype": "FP32", "shape": [-1, 1]}],
    }
    assert strings["inputs"] == [{"name": "s", "datatype": "BYTES", "shape": [-1]}]
    assert ready.status_code == 200 and ready.headers["x-modelport-model-version"] == "1"


def test_requested_outputs_and_request_id_come_back(v2_server):
    body = {
        "id": "req-7",
        "inputs": [
            {"name": "a", "datatype": "FP32", "shape": [2, 1], "data": [[1.0], [2.0]]},
            {"name": "b", "datatype": "INT32", "shape": [2, 1], "data": [10, 20]},
        ],
        "outputs": [{"name": "y"}],
    }
    with v2_server.client() as client:
        resp = client.post("/v2/models/pair/infer", json=body)
    assert resp.status_code == 200, resp.text
    assert resp.json() == {
        "model_name": "pair",
        "model_version": "1",
        "id": "req-7",
        "outputs": [{"name": "y", "datatype": "FP32", "shape": [2, 1], "data": [12.0, 24.0]}],
    }


def test_metrics_count_requests_latency_and_batches_per_version(v2_server):
    body = {"inputs": [{"name": "s", "datatype": "BYTES", "shape": [1], "data": ["x"]}]}
    with v2_server.client() as client:
        assert client.post("/v2/models/strings/infer", json=body).status_code == 200
        text = client.get("/metrics").text
    assert 'modelport_inference_requests_total{model="strings",status="200",version="1"}' in text
    assert (
        'modelport_inference_request_seconds_bucket{le="0.05",model="strings",version="1"}' in text
    )
    assert 'modelport_inference_batch_rows_count{model="strings",version="1"}' in text


def test_the_server_imports_neither_registry_nor_frameworks():
    code = (
        "import sys, api.serving, uvicorn\n"
        "bad = [m for m in ('registry', 'converters', 'sqlalchemy', 'fastapi', 'torch',"
        " 'tensorflow', 'sklearn') if m in sys.modules]\n"
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ""

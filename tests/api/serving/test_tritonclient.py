"""Conformance: Triton's own clients (tritonclient.http, tritonclient.grpc) drive our V2
server, REST and gRPC.

tritonclient pins packages the main venv cannot take (ml-dtypes<=0.5.4, and protobuf<7
for its gRPC extra), so the fixture builds it a venv of its own under
``~/.cache/modelport-venvs/`` (pip from PyPI) and runs a client script there; the
script prints what it got as JSON and this side checks it against the runtime.
Without network the venv cannot be built and the test is skipped, unless
MODELPORT_REQUIRE_TRITONCLIENT=1 (CI), where that is a failure. The venv is shared
with the Triton export tests (gRPC extra), under one file lock.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from filelock import FileLock

import runtime
from tests.conftest import _require

TRITONCLIENT = "tritonclient[http,grpc]==2.73.0"
VENV = Path(os.environ.get("MODELPORT_VENVS", Path.home() / ".cache" / "modelport-venvs"))
VENV = VENV / "tritonclient-2.73.0"

CLIENT_SCRIPT = r"""
import json, sys
import numpy as np
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

url = sys.argv[1]
x = np.array(json.loads(sys.argv[2]), dtype=np.float32)
c = httpclient.InferenceServerClient(url)
out = {"live": c.is_server_live(), "ready": c.is_server_ready(),
       "server": c.get_server_metadata(), "model_ready": c.is_model_ready("clf"),
       "version_ready": c.is_model_ready("clf", "1"),
       "metadata": c.get_model_metadata("clf")}

def infer(binary_in, binary_out, version=""):
    inp = httpclient.InferInput("x", list(x.shape), "FP32")
    inp.set_data_from_numpy(x, binary_data=binary_in)
    outputs = None
    if binary_out is not None:
        outputs = [httpclient.InferRequestedOutput(n, binary_data=binary_out)
                   for n in ("label", "probabilities")]
    r = c.infer("clf", [inp], model_version=version, outputs=outputs, request_id="r-1")
    resp = r.get_response()
    return {"label": r.as_numpy("label").tolist(),
            "probabilities": r.as_numpy("probabilities").tolist(),
            "label_dtype": str(r.as_numpy("label").dtype),
            "model_version": resp["model_version"], "id": resp.get("id")}

out["binary_default"] = infer(True, None)
out["json_json"] = infer(False, False)
out["binary_json"] = infer(True, False, version="1")
out["json_binary"] = infer(False, True)

s = np.array(["a", "bé", ""], dtype=object)
for binary in (True, False):
    inp = httpclient.InferInput("s", [3], "BYTES")
    inp.set_data_from_numpy(s, binary_data=binary)
    r = c.infer("strings", [inp])
    out[f"strings_{binary}"] = [v.decode() if isinstance(v, bytes) else v
                                for v in r.as_numpy("out").tolist()]

errors = {}
for label, shape in (("wrong_features", [1, 3]),):
    inp = httpclient.InferInput("x", shape, "FP32")
    inp.set_data_from_numpy(np.zeros(shape, np.float32))
    try:
        c.infer("clf", [inp])
    except InferenceServerException as exc:
        errors[label] = exc.message()
try:
    c.get_model_metadata("nope")
except InferenceServerException as exc:
    errors["unknown_model"] = exc.message()
out["errors"] = errors
print(json.dumps(out))
"""


GRPC_SCRIPT = r"""
import json, sys
import grpc
import numpy as np
import tritonclient.grpc as grpcclient
from tritonclient.grpc import service_pb2, service_pb2_grpc
from tritonclient.utils import InferenceServerException

url = sys.argv[1]
x = np.array(json.loads(sys.argv[2]), dtype=np.float32)
c = grpcclient.InferenceServerClient(url)
meta = c.get_model_metadata("clf")
out = {"live": c.is_server_live(), "ready": c.is_server_ready(),
       "server": c.get_server_metadata().name, "model_ready": c.is_model_ready("clf", "1"),
       "versions": list(meta.versions),
       "inputs": [[i.name, i.datatype, list(i.shape)] for i in meta.inputs],
       "outputs": [o.name for o in meta.outputs]}

def result(r):
    return {"label": r.as_numpy("label").tolist(), "label_dtype": str(r.as_numpy("label").dtype),
            "probabilities": r.as_numpy("probabilities").tolist(),
            "model_version": r.get_response().model_version, "id": r.get_response().id}

inp = grpcclient.InferInput("x", list(x.shape), "FP32")
inp.set_data_from_numpy(x)  # raw_input_contents
out["raw"] = result(c.infer("clf", [inp], request_id="g-1", headers={"x-modelport-sticky": "k"}))
# typed contents, through Triton's own generated messages and stub
req = service_pb2.ModelInferRequest(model_name="clf", model_version="1", id="g-1")
t = req.inputs.add(name="x", datatype="FP32", shape=list(x.shape))
t.contents.fp32_contents.extend(x.ravel().tolist())
stub = service_pb2_grpc.GRPCInferenceServiceStub(grpc.insecure_channel(url))
out["typed"] = result(grpcclient.InferResult(stub.ModelInfer(req)))

errors = {}
bad = grpcclient.InferInput("x", [1, 3], "FP32")
bad.set_data_from_numpy(np.zeros((1, 3), np.float32))
for label, model, inputs in (("wrong_features", "clf", [bad]), ("unknown_model", "nope", [inp])):
    try:
        c.infer(model, inputs)
    except InferenceServerException as exc:
        errors[label] = [exc.status(), exc.message()]
out["errors"] = errors
out["live_after"] = c.is_server_live()
print(json.dumps(out))
"""


@pytest.fixture(scope="session")
def tritonclient_python() -> Path:
    """The shared tritonclient venv (tests/clients/test_export.py uses its gRPC half)."""
    python = VENV / "bin" / "python"
    VENV.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(VENV.parent / "tritonclient.lock"), timeout=900):
        if python.exists() and _has_tritonclient(python):
            return python
        try:
            if not python.exists():
                subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
            subprocess.run(
                [str(python), "-m", "pip", "install", "-q", TRITONCLIENT],
                check=True,
                capture_output=True,
                timeout=600,
            )
        except (subprocess.SubprocessError, OSError) as exc:
            if _require("MODELPORT_REQUIRE_TRITONCLIENT"):
                raise
            pytest.skip(f"could not build the tritonclient venv at {VENV}: {exc}")
    return python


def _has_tritonclient(python: Path) -> bool:
    code = "import tritonclient.http, tritonclient.grpc.model_config_pb2"
    return subprocess.run([str(python), "-c", code], capture_output=True).returncode == 0


@pytest.mark.slow
def test_tritonclient_http_speaks_to_our_server(
    v2_server, model_files, tritonclient_python, tmp_path
):
    x = np.random.default_rng(3).normal(size=(5, 4)).astype(np.float32)
    script = tmp_path / "client.py"
    script.write_text(CLIENT_SCRIPT)
    url = v2_server.url.removeprefix("http://")
    proc = subprocess.run(
        [str(tritonclient_python), str(script), url, json.dumps(x.tolist())],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout)

    assert got["live"] and got["ready"] and got["model_ready"] and got["version_ready"]
    assert got["server"]["name"] == "modelport"
    assert "binary_tensor_data" in got["server"]["extensions"]
    meta = got["metadata"]
    assert meta["inputs"] == [{"name": "x", "datatype": "FP32", "shape": [-1, 4]}]
    assert [o["name"] for o in meta["outputs"]] == ["label", "probabilities"]

    expected = runtime.load_file(model_files["clf"]).run(x)
    for mode in ("binary_default", "json_json", "binary_json", "json_binary"):
        result = got[mode]
        assert result["label"] == expected["label"].tolist(), mode
        assert result["label_dtype"] == "int64", mode
        np.testing.assert_allclose(result["probabilities"], expected["probabilities"], rtol=1e-6)
        assert result["model_version"] == "1"
        assert result["id"] == "r-1"
    assert got["strings_True"] == got["strings_False"] == ["a", "bé", ""]
    assert "dimension 1 must be 4" in got["errors"]["wrong_features"]
    assert "model 'nope' is not served" in got["errors"]["unknown_model"]


@pytest.mark.slow
def test_tritonclient_grpc_speaks_to_our_server(
    v2_server, model_files, tritonclient_python, tmp_path
):
    x = np.random.default_rng(4).normal(size=(3, 4)).astype(np.float32)
    script = tmp_path / "grpc_client.py"
    script.write_text(GRPC_SCRIPT)
    proc = subprocess.run(
        [str(tritonclient_python), str(script), v2_server.grpc, json.dumps(x.tolist())],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout)

    assert got["live"] and got["ready"] and got["model_ready"] and got["live_after"]
    assert got["server"] == "modelport"
    assert got["versions"] == ["1"]
    assert got["inputs"] == [["x", "FP32", [-1, 4]]]
    assert got["outputs"] == ["label", "probabilities"]
    expected = runtime.load_file(model_files["clf"]).run(x)
    for mode in ("raw", "typed"):
        result = got[mode]
        assert result["label"] == expected["label"].tolist(), mode
        assert result["label_dtype"] == "int64", mode
        np.testing.assert_allclose(result["probabilities"], expected["probabilities"], rtol=1e-6)
        assert result["model_version"] == "1" and result["id"] == "g-1"
    status, message = got["errors"]["wrong_features"]
    assert status == "StatusCode.INVALID_ARGUMENT" and "dimension 1 must be 4" in message
    status, message = got["errors"]["unknown_model"]
    assert status == "StatusCode.NOT_FOUND" and "model 'nope' is not served" in message

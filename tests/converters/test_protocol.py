"""The worker protocol documents: round trips, versioning, and the policy kept apart."""

from __future__ import annotations

import json

import numpy as np
import pytest

from converters import (
    PROTOCOL_VERSION,
    ArtifactResult,
    ProtocolError,
    ServerPolicy,
    WorkerRequest,
    WorkerResult,
)


def _request() -> WorkerRequest:
    return WorkerRequest(
        source="input/model.pt",
        filename="model.pt",
        framework="torch",
        targets=("onnx",),
        sample="input/sample.npz",
        atol=1e-5,
        options={"input_shapes": {"x": [None, 4]}},
        policy=ServerPolicy(allow_pickle=True),
    )


def test_request_round_trips_through_json() -> None:
    request = _request()
    assert WorkerRequest.from_json(request.to_json()) == request
    wire = json.loads(request.to_json())
    assert wire["protocol"] == PROTOCOL_VERSION
    assert wire["tolerance"] == {"atol": 1e-5, "rtol": None}
    # the server's policy is its own member, never inside the uploader's options
    assert wire["policy"] == {"allow_pickle": True}
    assert "allow_pickle" not in wire["options"]


def test_request_is_frozen() -> None:
    with pytest.raises(AttributeError):
        _request().framework = "onnx"  # type: ignore[misc]


@pytest.mark.parametrize("protocol", [None, 0, PROTOCOL_VERSION + 1, "1"])
def test_another_protocol_version_is_refused(protocol) -> None:
    wire = json.loads(_request().to_json())
    if protocol is None:
        del wire["protocol"]
    else:
        wire["protocol"] = protocol
    with pytest.raises(ProtocolError, match="worker protocol"):
        WorkerRequest.from_dict(wire)


@pytest.mark.parametrize(
    ("member", "value", "message"),
    [
        ("source", None, "'source' must be a str"),
        ("targets", "onnx", "list of strings"),
        ("options", [], "options document must be a JSON object"),
        ("tolerance", {"atol": "x"}, "'atol' must be a number"),
        ("policy", {"allow_pickle": "yes"}, "'allow_pickle' must be a bool"),
    ],
)
def test_malformed_request_names_the_member(member, value, message) -> None:
    wire = json.loads(_request().to_json())
    wire[member] = value
    with pytest.raises(ProtocolError, match=message):
        WorkerRequest.from_dict(wire)


def test_result_is_strict_json_and_round_trips() -> None:
    art = ArtifactResult(
        "onnx",
        "passed",
        path="out/onnx/model.onnx",
        validation={"max_abs": np.float32(0.5), "worst": float("nan"), "rows": np.int64(3)},
        timings={"convert_s": 0.1},
    )
    result = WorkerResult(framework="onnx", lineage={"load_s": 0.2}, artifacts=(art,))
    text = result.to_json()
    wire = json.loads(text)
    assert wire["artifacts"][0]["validation"] == {"max_abs": 0.5, "worst": "nan", "rows": 3}
    back = WorkerResult.from_json(text)
    assert back.artifacts[0].path == "out/onnx/model.onnx"
    assert back.artifacts[0].validation == {"max_abs": 0.5, "worst": "nan", "rows": 3}


def test_unreadable_result_is_a_protocol_error() -> None:
    with pytest.raises(ProtocolError, match="not valid JSON"):
        WorkerResult.from_json("{")
    with pytest.raises(ProtocolError, match="must be a JSON object"):
        WorkerResult.from_json("[]")
    with pytest.raises(ProtocolError, match="'status'"):
        WorkerResult.from_dict({"protocol": PROTOCOL_VERSION, "artifacts": [{"format": "onnx"}]})

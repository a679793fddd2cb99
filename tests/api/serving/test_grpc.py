"""V2 gRPC, in process, through the stub generated from our own grpc_service.proto:
inference with raw and typed inputs, and malformed requests that must get
INVALID_ARGUMENT or NOT_FOUND with a clear message while the server stays live."""

from __future__ import annotations

import grpc
import numpy as np
import pytest

import runtime
from api.serving.protocol import grpc_service_pb2 as pb
from api.serving.protocol import grpc_service_pb2_grpc as pb_grpc

ROWS = np.arange(8, dtype=np.float32).reshape(2, 4) / 8


@pytest.fixture(scope="module")
def stub(v2_server):
    with grpc.insecure_channel(v2_server.grpc) as channel:
        yield pb_grpc.GRPCInferenceServiceStub(channel)


def _request(raw: bytes | None = None, shape=(2, 4), datatype="FP32", name="x", **kw):
    tensor = pb.ModelInferRequest.InferInputTensor(name=name, datatype=datatype, shape=shape)
    request = pb.ModelInferRequest(model_name=kw.pop("model", "clf"), inputs=[tensor], **kw)
    if raw is not None:
        request.raw_input_contents.append(raw)
    return request


def test_infer_raw_and_typed_match_the_runtime(stub, model_files):
    expected = runtime.load_file(model_files["clf"]).run(ROWS)
    typed = _request(id="t-1")
    typed.inputs[0].contents.fp32_contents.extend(ROWS.ravel().tolist())
    for request in (_request(ROWS.tobytes()), typed):
        reply = stub.ModelInfer(request)
        assert reply.model_version == "1" and reply.id == request.id
        out = {o.name: (o, raw) for o, raw in zip(reply.outputs, reply.raw_output_contents)}
        label, raw = out["label"]
        assert label.datatype == "INT64" and list(label.shape) == [2]
        assert np.frombuffer(raw, "<i8").tolist() == expected["label"].tolist()
        probs, raw = out["probabilities"]
        got = np.frombuffer(raw, "<f4").reshape(list(probs.shape))
        np.testing.assert_allclose(got, expected["probabilities"], rtol=1e-6)


BIG = 1 << 40
MALFORMED = [
    (_request(ROWS.tobytes(), name="y"), "'y'"),  # the signature has no input y
    (_request(ROWS.tobytes()[:-4]), "holds 8 elements, but the data has 28 bytes"),
    (_request(ROWS.tobytes(), shape=(-2, 4)), "non-negative"),
    (_request(ROWS.tobytes(), shape=(BIG, BIG)), f"holds {BIG * BIG} elements"),
    (_request(shape=(BIG, 4)), f"holds {BIG * 4} elements, but the data has 0"),
    (_request(ROWS.tobytes(), datatype="FP99"), "datatype 'FP99' is not one of"),
    (_request(ROWS.tobytes(), shape=(2, 3)), "holds 6 elements"),
    (_request(ROWS[:, :3].tobytes(), shape=(2, 3)), "dimension 1 must be 4"),
]


@pytest.mark.parametrize("request_, message", MALFORMED)
def test_malformed_requests_are_invalid_argument(stub, request_, message):
    with pytest.raises(grpc.RpcError) as caught:
        stub.ModelInfer(request_)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert message in caught.value.details()
    assert stub.ServerLive(pb.ServerLiveRequest()).live


def test_unknown_model_and_version_are_not_found(stub):
    for request in (
        _request(ROWS.tobytes(), model="nope"),
        _request(ROWS.tobytes(), model_version="7"),
    ):
        with pytest.raises(grpc.RpcError) as caught:
            stub.ModelInfer(request)
        assert caught.value.code() == grpc.StatusCode.NOT_FOUND
        assert "not served" in caught.value.details() or "no served version" in (
            caught.value.details()
        )
    assert stub.ServerReady(pb.ServerReadyRequest()).ready


def test_grpc_requests_count_in_the_shared_metrics(stub, v2_server):
    stub.ModelInfer(_request(ROWS.tobytes()))
    with v2_server.client() as client:
        text = client.get("/metrics").text
    assert 'modelport_inference_requests_total{model="clf",status="400",version="1"}' in text
    assert 'modelport_inference_requests_total{model="clf",status="200",version="1"}' in text

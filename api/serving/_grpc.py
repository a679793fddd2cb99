"""The Open Inference Protocol V2 over gRPC (``inference.GRPCInferenceService``).

The service runs on a ``grpc.aio`` server started on the REST server's own event loop
(``--grpc-port``), so both protocols share one model table, one router (aliases,
``latest``, weighted splits with the sticky key in the ``x-modelport-sticky`` metadata),
the same signature checks, dynamic batchers and Prometheus metrics. Inputs arrive as
typed ``contents`` or as ``raw_input_contents`` (little-endian bytes, checked against
the declared shape before any array is built); outputs always go back as
``raw_output_contents``, as Triton answers. Errors are gRPC statuses: INVALID_ARGUMENT
for a malformed request or one the signature refuses, NOT_FOUND for a model or version
not served here, INTERNAL when the model itself fails on checked inputs (the server
stays up); grpc answers UNAVAILABLE itself while the server is not listening.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import grpc
import numpy as np

from api.serving._routes import NotServed, ServedModel, ServedVersion
from api.serving._tensors import RequestError, raw_tensor, tensor_from_bytes, tensor_from_values
from api.serving.protocol import grpc_service_pb2 as pb
from runtime.errors import SignatureError

if TYPE_CHECKING:
    from api.serving._state import ServerState

__all__ = ["SERVICE", "STICKY_METADATA", "start_grpc"]

log = logging.getLogger("api.serving")

SERVICE = "inference.GRPCInferenceService"
#: request metadata key whose value picks the version of a split alias reproducibly
STICKY_METADATA = "x-modelport-sticky"
# the typed-contents field that carries each datatype's elements
_CONTENTS = {
    "BOOL": "bool_contents",
    "INT8": "int_contents",
    "INT16": "int_contents",
    "INT32": "int_contents",
    "INT64": "int64_contents",
    "UINT8": "uint_contents",
    "UINT16": "uint_contents",
    "UINT32": "uint_contents",
    "UINT64": "uint64_contents",
    "FP32": "fp32_contents",
    "FP64": "fp64_contents",
    "BYTES": "bytes_contents",
}
# metrics count gRPC answers under the HTTP status REST gives the same outcome
_HTTP = {
    grpc.StatusCode.OK: "200",
    grpc.StatusCode.INVALID_ARGUMENT: "400",
    grpc.StatusCode.NOT_FOUND: "404",
    grpc.StatusCode.UNAVAILABLE: "503",
    grpc.StatusCode.INTERNAL: "500",
}


class _Status(Exception):
    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code


class _Service:
    """The six RPCs, over the shared :class:`ServerState`."""

    def __init__(self, state: ServerState) -> None:
        self.state = state

    async def server_live(self, request: Any, context: Any) -> pb.ServerLiveResponse:
        return pb.ServerLiveResponse(live=True)

    async def server_ready(self, request: Any, context: Any) -> pb.ServerReadyResponse:
        return pb.ServerReadyResponse(ready=bool(self.state.models))

    async def server_metadata(self, request: Any, context: Any) -> pb.ServerMetadataResponse:
        return pb.ServerMetadataResponse(
            name="modelport", version=self.state.server_version, extensions=[]
        )

    async def model_ready(
        self, request: pb.ModelReadyRequest, context: Any
    ) -> pb.ModelReadyResponse:
        self._version(request.name, request.version, context)
        return pb.ModelReadyResponse(ready=True)

    async def model_metadata(
        self, request: pb.ModelMetadataRequest, context: Any
    ) -> pb.ModelMetadataResponse:
        try:
            _, doc = self._model(request.name).metadata(request.version)
        except NotServed as exc:
            raise _Status(grpc.StatusCode.NOT_FOUND, str(exc)) from None
        return pb.ModelMetadataResponse(
            name=doc["name"],
            versions=doc["versions"],
            platform=doc["platform"],
            inputs=[pb.ModelMetadataResponse.TensorMetadata(**t) for t in doc["inputs"]],
            outputs=[pb.ModelMetadataResponse.TensorMetadata(**t) for t in doc["outputs"]],
        )

    async def model_infer(
        self, request: pb.ModelInferRequest, context: Any
    ) -> pb.ModelInferResponse:
        started = time.perf_counter()
        version = self._version(request.model_name, request.model_version, context)
        code = grpc.StatusCode.INTERNAL
        try:
            response = await self._infer(request, version)
            code = grpc.StatusCode.OK
            return response
        except _Status as exc:
            code = exc.code
            raise
        finally:
            labels = (version.name, version.label)
            metrics = self.state.metrics
            metrics.requests.labels(*labels, _HTTP.get(code, "500")).inc()
            metrics.latency.labels(*labels).observe(time.perf_counter() - started)

    def _model(self, name: str) -> ServedModel:
        served = self.state.models.get(name)
        if served is None:
            known = ", ".join(self.state.models) or "none"
            raise _Status(
                grpc.StatusCode.NOT_FOUND,
                f"model {name!r} is not served here; served models: {known}",
            )
        return served

    def _version(self, name: str, version: str, context: Any) -> ServedVersion:
        key = None
        for item in context.invocation_metadata() or ():
            if item[0] == STICKY_METADATA:
                key = str(item[1])
        try:
            return self._model(name).resolve(version, key)
        except NotServed as exc:
            raise _Status(grpc.StatusCode.NOT_FOUND, str(exc)) from None

    async def _infer(
        self, request: pb.ModelInferRequest, version: ServedVersion
    ) -> pb.ModelInferResponse:
        names = version.model.output_names
        wanted = [o.name for o in request.outputs] or names
        unknown = [n for n in wanted if n not in names]
        try:
            if unknown:
                raise RequestError(
                    f"unknown output {unknown[0]!r}; the model's outputs: {', '.join(names)}"
                )
            feeds = version.model.check_inputs(decode_inputs(request))
        except (RequestError, SignatureError) as exc:
            raise _Status(grpc.StatusCode.INVALID_ARGUMENT, str(exc)) from None
        try:
            outputs = await version.batcher.submit(feeds)
        except SignatureError as exc:
            raise _Status(grpc.StatusCode.INVALID_ARGUMENT, str(exc)) from None
        except Exception as exc:  # the model failed on checked inputs: report, stay up
            raise _model_failed(exc) from None
        response = pb.ModelInferResponse(
            model_name=version.name, model_version=version.label, id=request.id
        )
        for name in wanted:
            datatype, shape, raw = raw_tensor(outputs[name])
            response.outputs.add(name=name, datatype=datatype, shape=shape)
            response.raw_output_contents.append(raw)
        return response


def _model_failed(exc: Exception) -> _Status:
    return _Status(
        grpc.StatusCode.INTERNAL,
        f"the model failed on this input: {type(exc).__name__}: {exc}",
    )


def decode_inputs(request: pb.ModelInferRequest) -> dict[str, np.ndarray]:
    """The request's input arrays by name; raises :class:`RequestError` saying what is
    wrong with which input."""
    if not request.inputs:
        raise RequestError("the request has no inputs")
    raw = request.raw_input_contents
    if raw and len(raw) != len(request.inputs):
        raise RequestError(
            f"raw_input_contents has {len(raw)} entries for {len(request.inputs)} inputs; "
            "give one per input, in the order of 'inputs', or none"
        )
    arrays: dict[str, np.ndarray] = {}
    for i, tensor in enumerate(request.inputs):
        name = tensor.name
        if not name:
            raise RequestError(f"inputs[{i}] has no name")
        if name in arrays:
            raise RequestError(f"input {name!r} is given twice")
        shape = list(tensor.shape)
        if raw:
            if tensor.HasField("contents"):
                raise RequestError(f"input {name!r} has both contents and raw_input_contents")
            arrays[name] = tensor_from_bytes(name, tensor.datatype, shape, raw[i])
        else:
            values = _typed_values(name, tensor)
            arrays[name] = tensor_from_values(name, tensor.datatype, shape, values)
    return arrays


def _typed_values(name: str, tensor: Any) -> list[Any]:
    if tensor.datatype == "FP16":
        raise RequestError(f"input {name!r}: FP16 has no typed contents; send raw_input_contents")
    field = _CONTENTS.get(tensor.datatype)
    if field is None:
        return []  # tensor_from_values names the unknown datatype
    values = list(getattr(tensor.contents, field))
    if tensor.datatype != "BYTES":
        return values
    try:
        return [v.decode("utf-8") for v in values]
    except UnicodeDecodeError:
        raise RequestError(f"input {name!r}: a BYTES element is not UTF-8 text") from None


Handler = Callable[[Any, Any], Awaitable[Any]]


def _guarded(method: Handler) -> Handler:
    async def call(request: Any, context: Any) -> Any:
        try:
            return await method(request, context)
        except _Status as exc:
            await context.abort(exc.code, str(exc))
        except Exception:
            log.exception("unexpected error in a gRPC call")
            await context.abort(grpc.StatusCode.INTERNAL, "internal error; see the server's log")

    return call


def _handler(state: ServerState) -> Any:
    service = _Service(state)
    rpcs: dict[str, tuple[Handler, Any]] = {
        "ServerLive": (service.server_live, pb.ServerLiveRequest),
        "ServerReady": (service.server_ready, pb.ServerReadyRequest),
        "ModelReady": (service.model_ready, pb.ModelReadyRequest),
        "ServerMetadata": (service.server_metadata, pb.ServerMetadataRequest),
        "ModelMetadata": (service.model_metadata, pb.ModelMetadataRequest),
        "ModelInfer": (service.model_infer, pb.ModelInferRequest),
    }
    handlers = {
        name: grpc.unary_unary_rpc_method_handler(
            _guarded(method),
            request_deserializer=message.FromString,
            response_serializer=lambda m: m.SerializeToString(),
        )
        for name, (method, message) in rpcs.items()
    }
    return grpc.method_handlers_generic_handler(SERVICE, handlers)


async def start_grpc(state: ServerState, address: str) -> Any:
    """Start the V2 gRPC service on ``address`` (``host:port``) on the running loop;
    returns the started ``grpc.aio`` server (stop it with ``await server.stop(grace)``)."""
    server = grpc.aio.server(
        options=[
            ("grpc.max_receive_message_length", state.max_body),
            ("grpc.max_send_message_length", -1),
        ]
    )
    server.add_generic_rpc_handlers((_handler(state),))
    server.add_insecure_port(address)
    await server.start()
    return server

"""The Open Inference Protocol V2 REST endpoints, on Starlette.

Errors are the protocol's ``{"error": "..."}`` bodies: 400 for a malformed request or
one the model's signature refuses, 404 for a model or version not served here, 413
for a body over the limit, 500 only when the model itself fails on inputs that passed
every check (the message says so; the server stays up).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import zlib
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from api.serving._grpc import start_grpc
from api.serving._metrics import CONTENT_TYPE
from api.serving._routes import NotServed, ServedModel, ServedVersion
from api.serving._state import ServerState
from api.serving._tensors import RequestError, decode_request, encode_response
from runtime.errors import SignatureError

__all__ = ["STICKY_HEADER", "VERSION_HEADER", "ServerState", "build_app"]

log = logging.getLogger("api.serving")

#: response header naming the model version that answered an inference request
VERSION_HEADER = "X-Modelport-Model-Version"
#: request header whose value picks the version of a split alias reproducibly
STICKY_HEADER = "X-Modelport-Sticky"
_HEADER_LENGTH = "inference-header-content-length"


class _V2Error(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


async def _on_v2_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, _V2Error)
    return _error(exc.status, str(exc))


async def _on_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return _error(exc.status_code, str(exc.detail))


async def _on_unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unexpected error on %s", request.url.path, exc_info=exc)
    return _error(500, "internal error; see the server's log")


def _state(request: Request) -> ServerState:
    state: ServerState = request.app.state.serving
    return state


def _model(request: Request) -> ServedModel:
    name = request.path_params["name"]
    served = _state(request).models.get(name)
    if served is None:
        known = ", ".join(_state(request).models) or "none"
        raise _V2Error(404, f"model {name!r} is not served here; served models: {known}")
    return served


def _version(request: Request) -> ServedVersion:
    key = request.headers.get(STICKY_HEADER)
    try:
        return _model(request).resolve(request.path_params.get("version"), key)
    except NotServed as exc:
        raise _V2Error(404, str(exc)) from None


async def live(request: Request) -> Response:
    return JSONResponse({"live": True})


async def ready(request: Request) -> Response:
    return JSONResponse({"ready": bool(_state(request).models)})


async def server_metadata(request: Request) -> Response:
    return JSONResponse(
        {
            "name": "modelport",
            "version": _state(request).server_version,
            "extensions": ["binary_tensor_data"],
        }
    )


async def model_metadata(request: Request) -> Response:
    served = _model(request)
    try:
        answering, doc = served.metadata(request.path_params.get("version"))
    except NotServed as exc:
        raise _V2Error(404, str(exc)) from None
    return JSONResponse(doc, headers={VERSION_HEADER: answering.label})


async def model_ready(request: Request) -> Response:
    version = _version(request)
    return JSONResponse(
        {"name": version.name, "ready": True}, headers={VERSION_HEADER: version.label}
    )


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _V2Error(413, f"the request body ({declared} bytes) is over the limit of {limit}")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _V2Error(413, f"the request body is over the limit of {limit} bytes")
        chunks.append(chunk)
    body = b"".join(chunks)
    encoding = request.headers.get("content-encoding", "identity").lower()
    if encoding == "identity":
        return body
    if encoding not in ("gzip", "deflate"):
        raise _V2Error(415, f"Content-Encoding {encoding!r} is not supported (gzip, deflate)")
    return _inflate(body, encoding, limit)


def _inflate(body: bytes, encoding: str, limit: int) -> bytes:
    wbits = 31 if encoding == "gzip" else 15
    inflater = zlib.decompressobj(wbits)
    try:
        data = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise _V2Error(400, f"the {encoding} body does not decompress ({exc})") from None
    if len(data) > limit or inflater.unconsumed_tail:
        raise _V2Error(413, f"the decompressed body is over the limit of {limit} bytes")
    return data


async def infer(request: Request) -> Response:
    started = time.perf_counter()
    state = _state(request)
    version = _version(request)
    status = 500
    try:
        response = await _infer(request, state, version)
        status = response.status_code
        return response
    except _V2Error as exc:
        status = exc.status
        raise
    finally:
        labels = (version.name, version.label)
        state.metrics.requests.labels(*labels, str(status)).inc()
        state.metrics.latency.labels(*labels).observe(time.perf_counter() - started)


async def _infer(request: Request, state: ServerState, version: ServedVersion) -> Response:
    body = await _read_body(request, state.max_body)
    try:
        req = decode_request(body, request.headers.get(_HEADER_LENGTH))
        feeds = version.model.check_inputs(req.inputs)
    except (RequestError, SignatureError) as exc:
        raise _V2Error(400, str(exc)) from None
    names = version.model.output_names
    wanted = list(req.outputs) if req.outputs is not None else names
    unknown = [n for n in wanted if n not in names]
    if unknown:
        raise _V2Error(
            400, f"unknown output {unknown[0]!r}; the model's outputs: {', '.join(names)}"
        )
    try:
        outputs = await version.batcher.submit(feeds)
    except SignatureError as exc:
        raise _V2Error(400, str(exc)) from None
    except Exception as exc:  # the model failed on checked inputs: report, stay up
        raise _V2Error(
            500, f"the model failed on this input: {type(exc).__name__}: {exc}"
        ) from None
    doc: dict[str, Any] = {"model_name": version.name, "model_version": version.label}
    if req.id is not None:
        doc["id"] = req.id
    content, header_length = encode_response(
        doc, [(n, outputs[n]) for n in wanted], req.binary, req.binary_all
    )
    headers = {VERSION_HEADER: version.label}
    media = "application/json"
    if header_length is not None:
        headers["Inference-Header-Content-Length"] = str(header_length)
        media = "application/octet-stream"
    return Response(content, headers=headers, media_type=media)


async def metrics(request: Request) -> Response:
    return Response(_state(request).metrics.render(), media_type=CONTENT_TYPE)


def build_app(state: ServerState) -> Starlette:
    """The V2 application over ``state`` (models already loaded)."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        task = None
        if state.follower is not None:
            task = asyncio.create_task(state.follower.run())
        grpc_server = None
        if state.grpc_address is not None:
            grpc_server = await start_grpc(state, state.grpc_address)
        try:
            yield
        finally:
            if grpc_server is not None:
                await grpc_server.stop(1.0)
            if task is not None:
                task.cancel()

    base = "/v2/models/{name}"
    routes = [  # inference first: Starlette tries routes in order
        Route(base + "/infer", infer, methods=["POST"]),
        Route(base + "/versions/{version}/infer", infer, methods=["POST"]),
        Route("/v2/health/live", live),
        Route("/v2/health/ready", ready),
        Route("/v2", server_metadata),
        Route(base, model_metadata),
        Route(base + "/ready", model_ready),
        Route(base + "/versions/{version}", model_metadata),
        Route(base + "/versions/{version}/ready", model_ready),
        Route("/metrics", metrics),
    ]
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={
            _V2Error: _on_v2_error,
            HTTPException: _on_http_error,
            Exception: _on_unexpected,
        },
    )
    app.state.serving = state
    return app

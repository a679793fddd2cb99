"""Request ids, access logs and Prometheus metrics of the API.

Every request gets an id (the caller's ``X-Request-ID`` when it is a plain token, else
a new one) that is sent back in ``X-Request-ID``, set on every log record while the
request runs, and carried by the conversion job an upload queues. Latency is recorded
per route template (``/api/v1/models/{name}``), never per concrete path, so the number
of series stays bounded. ``GET /metrics`` serves the Prometheus text format.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from fastapi import APIRouter, Request, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from registry import (
    count_blob_bytes,
    new_request_id,
    observe_http,
    render_metrics,
    request_context,
)

__all__ = ["RequestObserver", "router"]

log = logging.getLogger("modelport.access")

router = APIRouter(tags=["health"])

_UPLOAD_ROUTE = "/api/v1/models/{name}/versions"
_DOWNLOAD_ROUTE = "/api/v1/models/{name}/versions/{ref}/artifacts/{format}"


_METRICS_BODY: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "Prometheus text exposition format",
        "content": {"text/plain": {"schema": {"type": "string"}}},
    }
}


@router.get(
    "/metrics", summary="Prometheus metrics", response_class=Response, responses=_METRICS_BODY
)
def metrics(request: Request) -> Response:
    registry = getattr(request.app.state, "registry", None)
    body, content_type = render_metrics(registry.metadata if registry is not None else None)
    return Response(body, media_type=content_type)


def _unrouted(scope: Scope) -> str:
    """The template of a request answered before routing (a cached version document)."""
    parts = str(scope.get("path", "")).removeprefix("/api/v1/models/").split("/")
    if len(parts) == 3 and parts[1] == "versions" and scope.get("path", "").startswith("/api/"):
        return "/api/v1/models/{name}/versions/{ref}"
    return "<unmatched>"


class RequestObserver:
    """ASGI middleware: request id, one access log line, latency and byte counters."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        offered = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        request_id = new_request_id(offered)
        scope.setdefault("state", {})["request_id"] = request_id
        status = 500
        sent = received = 0
        t0 = time.perf_counter()

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            return message

        async def observed_send(message: Message) -> None:
            nonlocal status, sent
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                message = {**message, "headers": headers}
            elif message["type"] == "http.response.body":
                sent += len(message.get("body", b""))
            await send(message)

        with request_context(request_id):
            try:
                await self.app(scope, counting_receive, observed_send)
            finally:
                self._record(scope, status, time.perf_counter() - t0, sent, received)

    def _record(self, scope: Scope, status: int, seconds: float, sent: int, received: int) -> None:
        route = getattr(scope.get("route"), "path", None) or _unrouted(scope)
        method = scope["method"]
        observe_http(method, route, status, seconds)
        if route == _DOWNLOAD_ROUTE and status in (200, 206):
            count_blob_bytes("out", sent)
        elif route == _UPLOAD_ROUTE and method == "POST" and status == 202:
            count_blob_bytes("in", received)
        if route != "/metrics":
            log.info(
                "%s %s %d %.1fms",
                method,
                scope.get("path", ""),
                status,
                seconds * 1000,
                extra={"route": route, "status": status},
            )

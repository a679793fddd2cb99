"""The FastAPI application: ``create_app(settings)``.

Run it with ``uvicorn --factory api.app:create_app`` (configuration from
``MODELPORT_*`` environment variables) or ``modelport serve``.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api._doc_cache import CachedReads, VersionDocs
from api.auth import Access, WriteGuard, may_read, require_read
from api.errors import install_error_handlers, send_problem
from api.observability import RequestObserver
from api.observability import router as metrics_router
from api.routes import health, jobs, models, ui
from registry import (
    Registry,
    Settings,
    configure_logging,
    get_settings,
    make_dispatcher,
    upgrade_database,
)

__all__ = ["create_app"]

log = logging.getLogger("modelport.api")

_FORM_OVERHEAD = 1024 * 1024  # multipart framing and the small form fields


class UploadLimit:
    """Enforce the upload limit on request bodies while they stream in.

    A declared ``Content-Length`` over the limit is refused before any byte is read;
    a body without one (chunked) is cut off as soon as it passes the limit. The blob
    store enforces the exact limit on the file itself as it copies it.
    """

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit + _FORM_OVERHEAD

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.limit:
            await self._refuse(scope, send, f"request body of {int(length)} bytes")
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:
                raise HTTPException(413, _too_large("request body", self.limit - _FORM_OVERHEAD))
            return message

        await self.app(scope, counted, send)

    async def _refuse(self, scope: Scope, send: Send, what: str) -> None:
        detail = _too_large(what, self.limit - _FORM_OVERHEAD)
        await send_problem(send, 413, "PayloadTooLarge", detail, scope.get("path", ""))


class Liveness:
    """Answer ``GET /healthz`` before routing: a probe should cost next to nothing.

    The route of the same name stays for the OpenAPI document and answers the same.
    """

    _START = {
        "type": "http.response.start",
        "status": 200,
        "headers": [(b"content-type", b"application/json"), (b"content-length", b"15")],
    }
    _BODY = {"type": "http.response.body", "body": b'{"status":"ok"}'}

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == "/healthz" and scope["method"] == "GET":
            await send(self._START)
            await send(self._BODY)
            return
        await self.app(scope, receive, send)


def _too_large(what: str, limit: int) -> str:
    return (
        f"{what} exceeds the upload limit of {limit} bytes; raise "
        "MODELPORT_MAX_UPLOAD_BYTES on the server or upload a smaller file"
    )


def _json_logs() -> None:
    """Route uvicorn's own records through the JSON handler; access lines come from
    RequestObserver (with the request id), so uvicorn's are dropped."""
    configure_logging("json")
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
    logging.getLogger("uvicorn.access").disabled = True


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the registry app. Without ``settings``, they are read from the environment.

    Starting the app migrates the database (``MODELPORT_MIGRATE_ON_START``, on by
    default) and starts what runs conversions: the job runner threads
    (``MODELPORT_WORKERS=inline``) or the publisher and reaper of the Celery tier.
    """
    settings = settings or get_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    if settings.log_format == "json":
        _json_logs()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if settings.migrate_on_start:
            upgrade_database(settings)
        registry = Registry(settings)
        dispatcher = make_dispatcher(registry)
        app.state.registry = registry
        app.state.dispatcher = dispatcher
        dispatcher.start()
        try:
            yield
        finally:
            dispatcher.stop()
            registry.close()

    app = FastAPI(
        title="modelport registry",
        version="1",
        summary="Versioned models, converted and validated into portable artifacts.",
        lifespan=lifespan,
        docs_url="/docs",
    )
    app.state.settings = settings
    app.state.access = Access(settings)
    app.state.version_docs = VersionDocs(
        models.encode_version, settings.metadata_cache_entries, settings.metadata_cache_ttl_s
    )
    install_error_handlers(app)
    app.add_exception_handler(ui.SignInNeeded, ui.sign_in_redirect)
    app.include_router(health.router)
    app.include_router(metrics_router)
    reads = [Depends(require_read)]
    app.include_router(models.router, dependencies=reads)
    app.include_router(jobs.router, dependencies=reads)
    app.include_router(ui.router)
    app.add_middleware(UploadLimit, limit=settings.max_upload_bytes)
    app.add_middleware(WriteGuard, access=app.state.access)  # before any body is read
    app.add_middleware(
        CachedReads,
        docs=app.state.version_docs,
        allowed=lambda conn: may_read(app.state.access, conn),
        private=app.state.access.read_needs_token,
    )  # a cached document needs neither routing nor dependencies
    app.add_middleware(RequestObserver)  # ids and timings cover every answer but /healthz
    app.add_middleware(Liveness)
    return app

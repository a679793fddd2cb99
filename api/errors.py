"""Every error as an RFC 9457 problem document; HTTP statuses live only here."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Send

from registry import JobNotFound
from runtime._refs import ALIAS_RE, NAME_RE
from runtime.errors import (
    AliasNotFound,
    ArtifactNotFound,
    Conflict,
    ConversionError,
    Forbidden,
    IntegrityError,
    InvalidModelRef,
    InvalidUpload,
    InvalidWeights,
    MissingDependency,
    ModelNotFound,
    ModelportError,
    NotCached,
    PayloadTooLarge,
    RegistryUnavailable,
    SignatureError,
    Unauthorized,
    UnsupportedFormat,
    UnsupportedMediaType,
    ValidationFailed,
    VersionNotFound,
)

__all__ = ["STATUS", "install_error_handlers", "problem", "send_problem", "status_for"]

log = logging.getLogger("modelport.api")

PROBLEM = "application/problem+json"

STATUS: dict[type[ModelportError], int] = {
    Unauthorized: 401,
    Forbidden: 403,
    InvalidModelRef: 422,
    ModelNotFound: 404,
    VersionNotFound: 404,
    AliasNotFound: 404,
    ArtifactNotFound: 404,
    JobNotFound: 404,
    NotCached: 404,
    Conflict: 409,
    PayloadTooLarge: 413,
    UnsupportedMediaType: 415,
    InvalidUpload: 422,
    InvalidWeights: 422,
    UnsupportedFormat: 422,
    ConversionError: 422,
    ValidationFailed: 422,
    SignatureError: 422,
    MissingDependency: 501,
    IntegrityError: 500,
    RegistryUnavailable: 503,
}

_HTTP_TITLES = {
    404: "NotFound",
    405: "MethodNotAllowed",
    413: "PayloadTooLarge",
    416: "RangeNotSatisfiable",
}
_HTTP_HINTS = {
    404: "no such resource; see the API reference at /docs",
    405: "method not allowed on this path; see the API reference at /docs",
}


def status_for(exc: ModelportError) -> int:
    """The HTTP status of a modelport error: the first class in its MRO that is mapped."""
    return next((STATUS[c] for c in type(exc).__mro__ if c in STATUS), 500)


async def send_problem(
    send: Send,
    status: int,
    title: str,
    detail: str,
    instance: str,
    headers: Mapping[str, str] | None = None,
) -> None:
    """Answer a request with a problem+json body straight from ASGI middleware (before
    the app reads the request body) and close the connection."""
    body = json.dumps(
        {
            "type": f"/problems/{title}",
            "title": title,
            "status": status,
            "detail": detail,
            "instance": instance,
        }
    ).encode()
    raw = [
        (b"content-type", PROBLEM.encode()),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
    ]
    raw += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


def problem(
    request: Request,
    status: int,
    title: str,
    detail: str,
    headers: Mapping[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    """A problem+json response."""
    body: dict[str, Any] = {
        "type": f"/problems/{title}",
        "title": title,
        "status": status,
        "detail": detail,
        "instance": request.url.path,
        **extra,
    }
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=dict(headers or {}))


async def _modelport_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ModelportError)
    status = status_for(exc)
    if status >= 500:
        log.error("request failed: %s", exc, exc_info=exc)
    detail = str(exc) if status < 500 or status in (501, 503) else "internal error; see server logs"
    return problem(request, status, type(exc).__name__, detail, headers=auth_headers(status))


def auth_headers(status: int) -> dict[str, str] | None:
    """RFC 6750: a 401 names the scheme the client should use."""
    return {"WWW-Authenticate": 'Bearer realm="modelport"'} if status == 401 else None


def _field_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    out = []
    for err in exc.errors():
        out.append(
            {
                "loc": [str(p) for p in err.get("loc", ())],
                "msg": str(err.get("msg", "")),
                "type": str(err.get("type", "")),
            }
        )
    return jsonable_encoder(out)  # type: ignore[no-any-return]


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = _field_errors(exc)
    parts = [f"{'.'.join(e['loc'][1:] or e['loc'])}: {e['msg']}" for e in errors]
    detail = "invalid request: " + "; ".join(parts) + "; see the API reference at /docs"
    return problem(request, 422, "RequestValidationError", detail, errors=errors)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    title = _HTTP_TITLES.get(exc.status_code, "HTTPError")
    detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
    if detail in ("Not Found", "Method Not Allowed"):
        detail = _HTTP_HINTS.get(exc.status_code, detail)
    return problem(request, exc.status_code, title, detail, headers=exc.headers)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.error("unhandled error on %s", request.url.path, exc_info=exc)
    return problem(request, 500, "InternalError", "internal error; see server logs")


PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "An RFC 9457 problem document; validation errors add `errors`.",
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "errors": {"type": "array", "items": {"type": "object"}},
    },
}


def _document_problems(schema: dict[str, Any]) -> None:
    """Declare every error response of ``schema`` as problem+json, as it is sent.

    FastAPI documents its 422 as ``application/json`` ``HTTPValidationError``; the
    handlers here answer with a problem document instead, so the document says so.
    """
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components["Problem"] = PROBLEM_SCHEMA
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)
    ref = {"$ref": "#/components/schemas/Problem"}
    for operations in schema.get("paths", {}).values():
        for method, operation in operations.items():
            if operation.get("security"):  # see api.auth: tokens may be required
                responses = operation.setdefault("responses", {})
                responses.setdefault(
                    "401",
                    {"description": "This registry needs a token, or the token is unknown"},
                )
                if method in ("post", "put", "patch", "delete"):
                    responses.setdefault("403", {"description": "The token may read but not write"})
            for code, response in operation.get("responses", {}).items():
                if code[:1] in ("4", "5"):
                    response["content"] = {PROBLEM: {"schema": ref}}


# Path parameters: the grammar the registry enforces (runtime._refs), and what a 404
# on a path with that parameter means.
_PATH_PATTERNS = {"name": (NAME_RE.pattern, 128), "alias": (ALIAS_RE.pattern, 64)}
_MISSING = {
    "job_id": "no such job",
    "format": "no such model, version, alias or artifact of that format",
    "alias": "no such model or alias",
    "ref": "no such model, version or alias",
    "name": "no such model",
}


def _document_paths(schema: dict[str, Any]) -> None:
    """Give name and alias path parameters their pattern, and declare the 404 of every
    operation whose path names something that may not exist."""
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            names = set()
            for param in operation.get("parameters", []):
                if param.get("in") != "path":
                    continue
                names.add(param["name"])
                if param["name"] in _PATH_PATTERNS:
                    pattern, longest = _PATH_PATTERNS[param["name"]]
                    param.setdefault("schema", {}).update(pattern=f"^{pattern}$", maxLength=longest)
            why = next((text for key, text in _MISSING.items() if key in names), None)
            if why is not None:
                operation.setdefault("responses", {}).setdefault("404", {"description": why})


def _install_problem_docs(app: FastAPI) -> None:
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = generate()
            _document_paths(schema)
            _document_problems(schema)
        return app.openapi_schema or {}

    app.openapi = openapi  # type: ignore[method-assign]


def install_error_handlers(app: FastAPI) -> None:
    """Route every error through :func:`problem` and document them so in the OpenAPI."""
    _install_problem_docs(app)
    app.add_exception_handler(ModelportError, _modelport_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)

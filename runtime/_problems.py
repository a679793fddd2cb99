"""Problem documents (RFC 9457) back to the project's exception classes: the one map.

The registry answers every error as ``application/problem+json`` whose ``type`` is
``/problems/<Name>``; ``<Name>`` is the class the server raised (``api/errors.py``)
or one of the few titles it uses for HTTP-level failures. Every reader of the
registry (``runtime.load`` and the SDK, both through :class:`runtime._remote.Fetcher`)
decodes errors here, so a caller catches the same class the server raised:

>>> try:                                                  # doctest: +SKIP
...     reg.show("fraud-clf:9")
... except VersionNotFound as exc:
...     print(exc.problem["detail"], exc.status)

tests/clients/test_errors.py checks that every type the API can emit is decoded on
purpose (by name or, for the names below in :data:`BY_STATUS`, by status) and that
every class here is reachable.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from runtime import errors as rt
from runtime.errors import DocumentError

if TYPE_CHECKING:  # loaded with the first error answer: a load that meets none never pays
    from runtime._wire import Problem

__all__ = [
    "BY_STATUS",
    "PROBLEM_TYPES",
    "STATUS_FALLBACK",
    "decode_problem",
    "error_for",
    "unavailable",
]

_PREFIX = "/problems/"

#: Problem type name -> the class raised for it: every public class of runtime.errors,
#: and the server's own names that a client has a class for.
PROBLEM_TYPES: Mapping[str, type[rt.ModelportError]] = MappingProxyType(
    {
        **{
            name: cls
            for name in rt.__all__
            if isinstance(cls := getattr(rt, name), type) and issubclass(cls, rt.ModelportError)
        },
        # the registry's "no such job" and the router's "no such path"
        "JobNotFound": rt.ResourceNotFound,
        "NotFound": rt.ResourceNotFound,
    }
)

#: Names the server emits whose class the HTTP status decides (see STATUS_FALLBACK; a
#: 422 gets the class the calling method expects, e.g. InvalidUpload for a push).
BY_STATUS: frozenset[str] = frozenset(
    {
        "RequestValidationError",  # a malformed request (field errors in ``errors``)
        "InvalidQuery",  # registry: a listing's query does not parse (422)
        "InvalidCursor",  # registry: a listing's cursor is stale or forged (422)
        "MethodNotAllowed",
        "RangeNotSatisfiable",  # a Range past the artifact's end (416)
        "HTTPError",
        "InternalError",
        "NotReady",  # /readyz while the database is down (503)
        "RegistrationError",  # a plug-in refused at start-up
        "BrokenPlugin",  # an installed plug-in that cannot be used
        "ProtocolError",  # converters: a worker's answer did not parse
    }
)

#: When the problem type names no known class (or the body is not a problem at all,
#: e.g. a proxy's HTML page), the status decides.
STATUS_FALLBACK: Mapping[int, type[rt.ModelportError]] = MappingProxyType(
    {
        401: rt.Unauthorized,
        403: rt.Forbidden,
        404: rt.ResourceNotFound,
        409: rt.Conflict,
        413: rt.PayloadTooLarge,
        415: rt.UnsupportedMediaType,
        422: rt.InvalidModelRef,
        502: rt.RegistryUnavailable,
        503: rt.RegistryUnavailable,
        504: rt.RegistryUnavailable,
    }
)


def decode_problem(status: int, content: bytes, reason: str) -> tuple[Problem, dict[str, Any]]:
    """The problem of an error answer, typed, and its JSON object as sent.

    A body that is no problem document (a proxy's page, a bare list, a member of the
    wrong type) becomes an ``about:blank`` problem holding its first 200 characters
    (a framework's list of field errors: their messages).
    """
    from runtime._wire import Problem

    try:
        body = json.loads(content) if content else None
    except ValueError:
        body = None
    if isinstance(body, dict):
        try:
            return Problem.from_json(body), body
        except DocumentError:
            text = _detail_text(body.get("detail")) or str(body.get("title") or "")
    else:
        text = content.decode("utf-8", "replace").strip()[:200]
    blank = Problem(title=reason, status=status, detail=text or reason)
    return blank, body if isinstance(body, dict) else blank.to_json()


def _detail_text(detail: Any) -> str:
    if isinstance(detail, list):  # a framework-level validation error list
        return "; ".join(str(d.get("msg", d)) if isinstance(d, dict) else str(d) for d in detail)
    return "" if detail is None else str(detail)


def _class_for(
    problem: Problem, status: int, default_422: type[rt.ModelportError]
) -> type[rt.ModelportError]:
    name = problem.type.removeprefix(_PREFIX) if problem.type.startswith(_PREFIX) else ""
    if name not in BY_STATUS:
        cls = PROBLEM_TYPES.get(name) or PROBLEM_TYPES.get(problem.title)
        if cls is not None:
            return cls
    if status == 422:
        return default_422
    return STATUS_FALLBACK.get(status, rt.RegistryError)


def error_for(
    status: int,
    problem: Problem,
    body: dict[str, Any] | None = None,
    reason: str = "",
    *,
    default_422: type[rt.ModelportError] = rt.InvalidModelRef,
) -> rt.ModelportError:
    """The exception for an error answer (not raised). It carries ``status`` and, as
    ``problem``, the document's JSON object as the server sent it (``body``)."""
    cls = _class_for(problem, status, default_422)
    message = f"{problem.detail or problem.title or reason} (HTTP {status})"
    exc: rt.ModelportError
    if cls is rt.ValidationFailed:
        report = problem.extensions.get("report")
        exc = rt.ValidationFailed(message, report if isinstance(report, dict) else None)
    else:
        exc = cls(message)
    exc.problem = body if body is not None else problem.to_json()
    exc.status = status
    return exc


def unavailable(url: str, exc: Exception) -> rt.RegistryUnavailable:
    """The error for a registry that cannot be reached at all (no answer, no problem)."""
    what = type(exc).__name__
    return rt.RegistryUnavailable(
        f"cannot reach the registry at {url} ({what}: {exc}); start it with "
        "'modelport serve' or point MODELPORT_URL / --url at a running one"
    )

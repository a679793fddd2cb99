"""Map HTTP failures back to the project's exception classes.

The server answers every error as RFC 9457 ``application/problem+json`` whose
``type`` is ``/problems/<ErrorClass>``. The client raises that same class from
:mod:`runtime.errors`, carrying the problem document, so callers catch by class:

>>> try:                                                  # doctest: +SKIP
...     reg.show("fraud-clf:9")
... except VersionNotFound as exc:
...     print(exc.problem["detail"])
"""

from __future__ import annotations

from typing import Any

import httpx

from runtime import errors as rt

__all__ = [
    "PROBLEM_TYPES",
    "STATUS_FALLBACK",
    "RegistryError",
    "ResourceNotFound",
    "WaitTimeout",
    "error_from_response",
    "unavailable",
]


class RegistryError(rt.ModelportError):
    """The registry answered with an error no more specific class describes."""


class ResourceNotFound(RegistryError, LookupError):
    """A 404 for something other than a model, version, alias or artifact (e.g. a job)."""


class WaitTimeout(rt.ModelportError, TimeoutError):
    """A version did not reach ``ready`` or ``failed`` within the time given."""


# Every public error class of runtime.errors, by the name the server puts in the
# problem ``type``. tests/clients/test_errors.py checks that this is complete.
PROBLEM_TYPES: dict[str, type[rt.ModelportError]] = {
    "ModelportError": rt.ModelportError,
    "InvalidModelRef": rt.InvalidModelRef,
    "ModelNotFound": rt.ModelNotFound,
    "VersionNotFound": rt.VersionNotFound,
    "AliasNotFound": rt.AliasNotFound,
    "ArtifactNotFound": rt.ArtifactNotFound,
    "Conflict": rt.Conflict,
    "InvalidUpload": rt.InvalidUpload,
    "UnsupportedMediaType": rt.UnsupportedMediaType,
    "PayloadTooLarge": rt.PayloadTooLarge,
    "UnsupportedFormat": rt.UnsupportedFormat,
    "MissingDependency": rt.MissingDependency,
    "ConversionError": rt.ConversionError,
    "ValidationFailed": rt.ValidationFailed,
    "SignatureError": rt.SignatureError,
    "IntegrityError": rt.IntegrityError,
    "RegistryUnavailable": rt.RegistryUnavailable,
    "NotCached": rt.NotCached,
    "DeviceUnavailable": rt.DeviceUnavailable,
    "InvalidDevice": rt.InvalidDevice,
    "InferenceError": rt.InferenceError,
    "Unauthorized": rt.Unauthorized,
    "Forbidden": rt.Forbidden,
    "InvalidWeights": rt.InvalidWeights,
}

# When the problem type names no known class (or the body is not a problem at all,
# e.g. a proxy's HTML page), the status decides.
STATUS_FALLBACK: dict[int, type[rt.ModelportError]] = {
    401: rt.Unauthorized,
    403: rt.Forbidden,
    404: ResourceNotFound,
    409: rt.Conflict,
    413: rt.PayloadTooLarge,
    415: rt.UnsupportedMediaType,
    422: rt.InvalidModelRef,
    502: rt.RegistryUnavailable,
    503: rt.RegistryUnavailable,
    504: rt.RegistryUnavailable,
}


def _problem_of(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        return body
    text = response.text.strip()[:200] if response.content else ""
    return {
        "type": "about:blank",
        "title": response.reason_phrase,
        "status": response.status_code,
        "detail": text or response.reason_phrase,
    }


def _class_for(
    problem: dict[str, Any], status: int, default_422: type[rt.ModelportError]
) -> type[rt.ModelportError]:
    ptype = str(problem.get("type") or "")
    name = ptype.rsplit("/", 1)[-1] if ptype.startswith("/problems/") else ""
    cls = PROBLEM_TYPES.get(name) or PROBLEM_TYPES.get(str(problem.get("title") or ""))
    if cls is not None:
        return cls
    if status == 422:
        return default_422
    return STATUS_FALLBACK.get(status, RegistryError)


def _message(problem: dict[str, Any], response: httpx.Response) -> str:
    detail = problem.get("detail")
    if isinstance(detail, list):  # a framework-level validation error list
        detail = "; ".join(str(d.get("msg", d)) if isinstance(d, dict) else str(d) for d in detail)
    text = str(detail or problem.get("title") or response.reason_phrase)
    return f"{text} (HTTP {response.status_code})"


def error_from_response(
    response: httpx.Response, *, default_422: type[rt.ModelportError] = rt.InvalidModelRef
) -> rt.ModelportError:
    """Build the exception for an error response (does not raise it).

    The exception has ``problem`` (the server's problem document as a dict) and
    ``status`` (the HTTP status) attributes.
    """
    problem = _problem_of(response)
    cls = _class_for(problem, response.status_code, default_422)
    message = _message(problem, response)
    exc: rt.ModelportError
    if cls is rt.ValidationFailed:
        report = problem.get("report")
        exc = rt.ValidationFailed(message, report if isinstance(report, dict) else None)
    else:
        exc = cls(message)
    exc.problem = problem  # type: ignore[attr-defined]
    exc.status = response.status_code  # type: ignore[attr-defined]
    return exc


def unavailable(url: str, exc: Exception) -> rt.RegistryUnavailable:
    """The error for a registry that cannot be reached at all."""
    what = type(exc).__name__
    err = rt.RegistryUnavailable(
        f"cannot reach the registry at {url} ({what}: {exc}); start it with "
        "'modelport serve' or point MODELPORT_URL / --url at a running one"
    )
    err.problem = None  # type: ignore[attr-defined]
    err.status = None  # type: ignore[attr-defined]
    return err

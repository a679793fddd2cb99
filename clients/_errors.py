"""The SDK's errors: the runtime's problem-to-class map, and the SDK's own timeout.

The server answers every error as RFC 9457 ``application/problem+json`` whose
``type`` is ``/problems/<ErrorClass>``. The client raises that same class from
:mod:`runtime.errors`, carrying the problem document, so callers catch by class:

>>> try:                                                  # doctest: +SKIP
...     reg.show("fraud-clf:9")
... except VersionNotFound as exc:
...     print(exc.problem["detail"])

The map itself lives in :mod:`runtime._problems` (one for the runtime and the SDK);
this module names it for the SDK.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from runtime import errors as rt
from runtime._problems import BY_STATUS, PROBLEM_TYPES, STATUS_FALLBACK, unavailable
from runtime._remote import error_from_response as _from_response
from runtime.errors import RegistryError, ResourceNotFound

if TYPE_CHECKING:
    import httpx

__all__ = [
    "BY_STATUS",
    "PROBLEM_TYPES",
    "STATUS_FALLBACK",
    "RegistryError",
    "ResourceNotFound",
    "WaitTimeout",
    "error_from_response",
    "unavailable",
]


class WaitTimeout(rt.ModelportError, TimeoutError):
    """A version did not reach ``ready`` or ``failed`` within the time given."""


def error_from_response(
    response: httpx.Response, *, default_422: type[rt.ModelportError] = rt.InvalidModelRef
) -> rt.ModelportError:
    """Build the exception for an error response (does not raise it).

    The exception has ``problem`` (the server's problem document as a dict) and
    ``status`` (the HTTP status) attributes.
    """
    response.read()
    return _from_response(response, default_422)

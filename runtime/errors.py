"""The one error hierarchy of modelport.

Every package raises subclasses of :class:`ModelportError`; the API maps them to
RFC 9457 problem details in one place (``api/errors.py``), clients map problem
details back to these classes. Messages name the object and the value and say
what to do next.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "AliasNotFound",
    "ArtifactNotFound",
    "ConversionError",
    "DocumentError",
    "IntegrityError",
    "InvalidModelRef",
    "InvalidUpload",
    "InvalidWeights",
    "MissingDependency",
    "ModelNotFound",
    "ModelportError",
    "NotCached",
    "PayloadTooLarge",
    "RegistryUnavailable",
    "SignatureError",
    "UnsupportedFormat",
    "UnsupportedMediaType",
    "ValidationFailed",
    "VersionNotFound",
    "Conflict",
    "DeviceUnavailable",
    "InferenceError",
    "InvalidDevice",
    "Unauthorized",
    "Forbidden",
    "RegistryError",
    "ResourceNotFound",
]


class ModelportError(Exception):
    """Base class of every error modelport raises on purpose.

    An error decoded from a registry's answer carries that answer: ``problem`` is the
    RFC 9457 problem document (a dict, as the server sent it) and ``status`` the HTTP
    status. Both are None for an error raised locally or when no answer came.
    """

    problem: dict[str, Any] | None = None
    status: int | None = None


class InvalidModelRef(ModelportError, ValueError):
    """A model name, version or alias reference does not follow the grammar."""


class ModelNotFound(ModelportError, LookupError):
    """No model of that name exists."""


class VersionNotFound(ModelportError, LookupError):
    """The model exists but has no such version."""


class AliasNotFound(ModelportError, LookupError):
    """The model exists but has no such alias."""


class ArtifactNotFound(ModelportError, LookupError):
    """The version has no artifact of the requested format (or none usable)."""


class Conflict(ModelportError):
    """The request conflicts with the current state (e.g. a version still converting)."""


class InvalidUpload(ModelportError, ValueError):
    """An uploaded file or form field is not acceptable."""


class UnsupportedMediaType(InvalidUpload):
    """The upload's file type is refused (e.g. a pickle while pickles are disabled)."""


class PayloadTooLarge(InvalidUpload):
    """The upload exceeds the configured size limit."""


class UnsupportedFormat(ModelportError, ValueError):
    """No loader or converter exists for the requested format or framework."""


class InvalidWeights(ModelportError, ValueError):
    """An alias's version weights are malformed (not positive integers summing to 100)."""


class MissingDependency(ModelportError, ImportError):
    """An optional dependency is needed; the message names the pip extra."""


class ConversionError(ModelportError):
    """A converter failed on a model."""


class ValidationFailed(ModelportError):
    """An artifact's outputs differ from the source model's beyond tolerance.

    ``report`` holds the full comparison, every mismatch included.
    """

    def __init__(self, message: str, report: dict[str, object] | None = None) -> None:
        super().__init__(message)
        self.report = report or {}


class SignatureError(ModelportError, ValueError):
    """Inputs given to a model do not match its stored signature."""


class IntegrityError(ModelportError):
    """Downloaded or cached bytes do not hash to the expected sha256."""


class RegistryUnavailable(ModelportError, ConnectionError):
    """The registry could not be reached (and nothing usable is cached)."""


class NotCached(ModelportError, LookupError):
    """Offline, and the requested model is not in the local cache."""


class DeviceUnavailable(ModelportError, RuntimeError):
    """The requested device (e.g. ``cuda``) is not offered by this machine's onnxruntime."""


class InvalidDevice(ModelportError, ValueError):
    """A device string does not parse (expected ``cpu``, ``cuda``, ``cuda:N`` or ``auto``)."""


class InferenceError(ModelportError, RuntimeError):
    """The backend failed while running a model on inputs that passed the signature checks."""


class Unauthorized(ModelportError, PermissionError):
    """The registry needs a token for this request, and none (or an unknown one) was sent."""


class Forbidden(ModelportError, PermissionError):
    """The token is valid but does not allow this request (e.g. a read token uploading)."""


class DocumentError(ModelportError, ValueError):
    """A document that crossed a boundary (a version, a job, a problem...) does not have
    the shape its type declares; the message names the field and what it holds."""


class RegistryError(ModelportError):
    """The registry answered with an error no more specific class describes."""


class ResourceNotFound(RegistryError, LookupError):
    """A 404 for something other than a model, version, alias or artifact (e.g. a job)."""

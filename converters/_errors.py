"""Errors the converters layer adds to the hierarchy rooted in ``runtime.errors``."""

from __future__ import annotations

from runtime.errors import ModelportError

__all__ = ["ProtocolError", "RegistrationError"]


class RegistrationError(ModelportError, ValueError):
    """A framework or converter plug-in is registered twice, or its entry is malformed."""


class ProtocolError(ModelportError, ValueError):
    """A worker request or result that does not follow the worker protocol."""

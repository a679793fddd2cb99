"""Errors the converters layer adds to the hierarchy rooted in ``runtime.errors``."""

from __future__ import annotations

from runtime.errors import ModelportError
from runtime.plugins import RegistrationError

__all__ = ["ProtocolError", "RegistrationError"]


class ProtocolError(ModelportError, ValueError):
    """A worker request or result that does not follow the worker protocol."""

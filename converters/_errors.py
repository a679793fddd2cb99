"""Errors the converters layer adds to the hierarchy rooted in ``runtime.errors``."""

from __future__ import annotations

from runtime.errors import ModelportError

__all__ = ["RegistrationError"]


class RegistrationError(ModelportError, ValueError):
    """A framework or converter plug-in is registered twice, or its entry is malformed."""

"""Errors the registry adds to the hierarchy rooted in ``runtime.errors``."""

from __future__ import annotations

from runtime.errors import ModelportError

__all__ = ["JobNotFound"]


class JobNotFound(ModelportError, LookupError):
    """No conversion job has that id."""

"""Text search helpers shared by the REST list and the web UI's models list."""

from __future__ import annotations

__all__ = ["LIKE_ESCAPE", "contains_pattern"]

#: The escape character of every pattern made here; pass it as ``like(..., escape=)``.
LIKE_ESCAPE = "\\"


def contains_pattern(text: str) -> str:
    """A LIKE pattern matching ``text`` anywhere, with ``%``, ``_`` and ``\\`` taken literally.

    >>> contains_pattern("50%_off")
    '%50\\\\%\\\\_off%'
    """
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"

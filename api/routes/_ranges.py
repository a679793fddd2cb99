"""HTTP Range parsing for artifact downloads (one byte range; RFC 9110 section 14)."""

from __future__ import annotations

import re

__all__ = ["RangeNotSatisfiable", "parse_range"]

_RANGE = re.compile(r"bytes=(\d*)-(\d*)")


class RangeNotSatisfiable(Exception):
    """The Range header names no byte inside the file."""


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The inclusive ``(start, end)`` to send, or None for the whole file.

    Malformed or multi-range headers are ignored (the whole file is sent, as RFC 9110
    allows); a well-formed range outside the file raises :class:`RangeNotSatisfiable`.
    """
    if not header:
        return None
    m = _RANGE.fullmatch(header.strip().replace(" ", ""))
    if m is None:
        return None
    first, last = m.group(1), m.group(2)
    if not first and not last:
        return None
    if not first:  # suffix range: the last N bytes
        n = int(last)
        if n == 0 or size == 0:
            raise RangeNotSatisfiable(header)
        return max(0, size - n), size - 1
    start = int(first)
    end = int(last) if last else size - 1
    if last and end < start:
        return None
    if start >= size:
        raise RangeNotSatisfiable(header)
    return start, min(end, size - 1)

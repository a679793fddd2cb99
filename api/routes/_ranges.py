"""HTTP Range parsing for artifact downloads (one byte range; RFC 9110 section 14)."""

from __future__ import annotations

import re

__all__ = ["RangeNotSatisfiable", "parse_range"]

_RANGE = re.compile(r"bytes=([0-9]*)-([0-9]*)")


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
        n = _at_most(last, size)
        if n == 0 or size == 0:
            raise RangeNotSatisfiable(header)
        return size - n, size - 1
    if last and _less(last, first):
        return None
    start = _at_most(first, size)
    if start >= size:
        raise RangeNotSatisfiable(header)
    return start, _at_most(last, size - 1) if last else size - 1


# A header may carry thousands of digits, and int() refuses strings past 4300 of them:
# numbers are compared and capped as digit strings before any conversion.


def _at_most(digits: str, cap: int) -> int:
    """The number ``digits`` spells, or ``cap`` when that number is larger."""
    digits = digits.lstrip("0") or "0"
    if len(digits) > len(str(cap)):
        return cap
    return min(int(digits), cap)


def _less(a: str, b: str) -> bool:
    """Whether the number spelled by ``a`` is smaller than that spelled by ``b``."""
    a, b = a.lstrip("0"), b.lstrip("0")
    return (len(a), a) < (len(b), b)

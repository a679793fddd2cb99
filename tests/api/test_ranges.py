"""api.routes._ranges: Range header parsing, including headers with huge numbers."""

from __future__ import annotations

import itertools

import pytest

from api.routes._ranges import RangeNotSatisfiable, parse_range


def _spelled(header: str, size: int):
    try:
        return parse_range(header, size)
    except RangeNotSatisfiable:
        return "416"


def _expected(first: int | None, last: int | None, size: int):
    """RFC 9110 single byte ranges, written out with plain integers."""
    if first is None and last is None:
        return None
    if first is None:
        return "416" if last == 0 or size == 0 else (max(0, size - last), size - 1)
    if last is not None and last < first:
        return None
    if first >= size:
        return "416"
    return first, min(size - 1 if last is None else last, size - 1)


@pytest.mark.parametrize("size", [0, 1, 5, 10])
def test_small_ranges_follow_the_rfc(size):
    numbers = [None, 0, 1, 4, 5, 9, 10, 11, 30]
    for first, last in itertools.product(numbers, numbers):
        for pad in ("", "00"):
            header = "bytes={}-{}".format(
                "" if first is None else pad + str(first), "" if last is None else pad + str(last)
            )
            assert _spelled(header, size) == _expected(first, last, size), (header, size)


def test_numbers_past_the_int_digit_limit_are_answered_not_raised():
    huge = "9" * 5000
    bigger = "1" + "0" * 5000
    assert _spelled(f"bytes={huge}-", 10) == "416"
    assert _spelled(f"bytes=0-{huge}", 10) == (0, 9)
    assert _spelled(f"bytes=-{huge}", 10) == (0, 9)
    assert _spelled(f"bytes={bigger}-{huge}", 10) is None  # last < first: whole file
    assert _spelled(f"bytes={huge}-{bigger}", 10) == "416"
    assert _spelled(f"bytes=3-{'0' * 5000}7", 10) == (3, 7)

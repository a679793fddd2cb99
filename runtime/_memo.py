"""Bounded process-wide memos: past ``limit`` entries the oldest is dropped.

A long-lived process (a server loading many versions) must not grow without bound;
what a memo forgets is only read or hashed again.
"""

from __future__ import annotations

from typing import Any

__all__ = ["MEMO_MAX", "remember"]

MEMO_MAX = 4096


def remember(memo: dict[Any, Any], key: Any, value: Any, limit: int = MEMO_MAX) -> None:
    """Store ``key`` in ``memo`` as its newest entry, keeping at most ``limit`` entries."""
    memo.pop(key, None)
    while memo and len(memo) >= limit:
        memo.pop(next(iter(memo)))
    memo[key] = value

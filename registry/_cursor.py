"""Opaque pagination cursors (base64url JSON)."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from runtime.errors import InvalidUpload

__all__ = ["MAX_LIMIT", "decode_cursor", "encode_cursor"]

#: The largest page any list hands out.
MAX_LIMIT = 200


class InvalidCursor(InvalidUpload):
    """A pagination cursor that this server did not hand out."""


def encode_cursor(value: Any) -> str:
    raw = json.dumps(value, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None, kind: type) -> Any:
    """Decode a cursor produced by :func:`encode_cursor`; ``None`` passes through."""
    if cursor is None or cursor == "":
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        value = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError):
        value = None
    if not isinstance(value, kind) or isinstance(value, bool):
        raise InvalidCursor(
            f"invalid cursor {cursor[:40]!r}: pass the next_cursor value of the previous "
            "page unchanged, or omit it to start from the first page"
        )
    return value

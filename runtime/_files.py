"""Facts about files on disk that several runtime modules need: their sha256, whether
they are tars.

The lowest module of the runtime besides ``errors``: the cache, the graph cache and
the loaders all import it, and it imports none of them.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

__all__ = ["file_sha256", "is_tar"]


def file_sha256(path: Path) -> str:
    """Hex sha256 of a file, streamed (never the whole file in memory)."""
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def is_tar(path: Path) -> bool:
    """True for a POSIX/GNU/PAX tar (what the registry packs), from its header alone."""
    if path.suffix.lower() == ".tar":
        return True
    try:
        with path.open("rb") as fh:
            header = fh.read(512)
    except OSError:
        return False
    return len(header) == 512 and header[257:262] == b"ustar"

"""What sniffers share: the first bytes of an upload and the containers it may be.

Containers only (zip, tar, compressed streams, pickles), never a framework's layout:
each framework plug-in's ``sniff`` knows its own files, detection
(``converters._detect``) knows only these and the server's pickle policy. Nothing here
executes the upload or imports a training framework.
"""

from __future__ import annotations

import lzma
import tarfile
import zipfile
from pathlib import Path

from runtime.errors import InvalidUpload

__all__ = [
    "MAX_ARCHIVE_MEMBERS",
    "PICKLE_EXTS",
    "head",
    "is_compressed",
    "is_pickle_upload",
    "is_zip",
    "looks_like_pickle",
    "tar_names",
    "zip_names",
]

MAX_ARCHIVE_MEMBERS = 100_000
PICKLE_EXTS = (".pkl", ".pickle", ".joblib")


def head(path: Path, filename: str, size: int = 16) -> bytes:
    """The upload's first bytes; an unreadable or empty upload is ``InvalidUpload``."""
    try:
        with path.open("rb") as fh:
            data = fh.read(size)
    except OSError as exc:
        raise InvalidUpload(f"cannot read the upload {filename!r}: {exc}") from exc
    if not data:
        raise InvalidUpload(f"the upload {filename!r} is empty: upload the saved model file")
    return data


def is_zip(first: bytes) -> bool:
    return first.startswith(b"PK\x03\x04") or first.startswith(b"PK\x05\x06")


def is_compressed(first: bytes) -> bool:
    """gzip, bzip2 or xz."""
    return first[:2] == b"\x1f\x8b" or first[:3] == b"BZh" or first[:6] == b"\xfd7zXZ\x00"


def zip_names(path: Path, filename: str) -> list[str]:
    """Member names of a zip upload; a damaged or oversized one is ``InvalidUpload``."""
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise InvalidUpload(
            f"{filename!r} is a damaged zip archive: {exc}; pack the model again"
        ) from exc
    if len(infos) > MAX_ARCHIVE_MEMBERS:
        raise InvalidUpload(
            f"{filename!r} has {len(infos)} members, more than {MAX_ARCHIVE_MEMBERS}"
        )
    return [i.filename for i in infos]


def tar_names(path: Path) -> list[str] | None:
    """Member names of a (possibly compressed) tar, None when it is not one."""
    try:
        with tarfile.open(path, "r:*") as tf:
            names: list[str] = []
            for member in tf:
                names.append(member.name)
                if len(names) > MAX_ARCHIVE_MEMBERS:
                    break
            return names
    except (tarfile.TarError, OSError, EOFError, ValueError, lzma.LZMAError):
        return None


def looks_like_pickle(first: bytes) -> bool:
    return len(first) >= 2 and first[0] == 0x80 and 2 <= first[1] <= 5


def is_pickle_upload(path: Path, filename: str) -> bool:
    """A pickle or joblib stream (plain or compressed), judged from content and ending."""
    first = head(path, filename)
    lower = filename.lower()
    if is_zip(first):
        return False
    if is_compressed(first):
        return tar_names(path) is None and lower.endswith(PICKLE_EXTS + (".gz", ".bz2", ".xz"))
    return looks_like_pickle(first) or (lower.endswith(PICKLE_EXTS) and first[:1] in (b"x", b"Z"))

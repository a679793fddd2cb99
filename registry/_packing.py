"""Deterministic tar packing of multi-file artifacts."""

from __future__ import annotations

import hashlib
import tarfile
from pathlib import Path
from typing import Any

__all__ = ["pack_directory"]


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


def _members(root: Path) -> list[Path]:
    found: list[Path] = []
    for path in root.rglob("*"):
        if path.is_symlink():
            raise ValueError(f"artifact folder {root} contains a symlink {path.name!r}; refused")
        found.append(path)
    return sorted(found, key=lambda p: p.relative_to(root).as_posix())


def pack_directory(root: Path, dest: Path) -> list[dict[str, Any]]:
    """Write ``root`` as a tar to ``dest`` with sorted names, mtime 0, uid/gid 0 and no
    owner names, so equal folders give equal bytes. Return the member list, each file
    with its size and sha256."""
    files: list[dict[str, Any]] = []
    with tarfile.open(dest, "w", format=tarfile.PAX_FORMAT) as tar:
        for path in _members(root):
            rel = path.relative_to(root).as_posix()
            info = tarfile.TarInfo(rel)
            info.mtime = 0
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            if path.is_dir():
                info.type = tarfile.DIRTYPE
                info.mode = 0o755
                tar.addfile(info)
                continue
            info.size = path.stat().st_size
            info.mode = 0o644
            with path.open("rb") as fh:
                tar.addfile(info, fh)
            files.append({"path": rel, "size": info.size, "sha256": _sha256_file(path)})
    return files

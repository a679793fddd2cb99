"""Safe extraction of uploaded archives (``.zip``, ``.tar``, ``.tar.gz``, ``.tgz``).

An uploaded archive is hostile until proven otherwise. Members are extracted one by
one, never with ``extractall``; each is checked before a byte is written:

* names: no absolute paths, no drive letters or backslashes, no ``..`` component,
  no duplicates;
* types: regular files and folders only (no symbolic or hard links, devices, fifos);
* limits: member count, total uncompressed size (counted on the bytes actually
  written, not the sizes the headers claim) and compression ratio (zip bombs).

Every refusal is an :class:`~runtime.errors.InvalidUpload` naming the member and the
limit.
"""

from __future__ import annotations

import shutil
import stat
import tarfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO

from runtime.errors import InvalidUpload

__all__ = [
    "ArchiveLimits",
    "archive_kind",
    "extract_archive",
    "find_saved_model_root",
    "list_members",
]

_CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class ArchiveLimits:
    """Ceilings applied while extracting; the defaults suit a SavedModel upload."""

    max_members: int = 10_000
    max_total_bytes: int = 4 << 30
    max_ratio: float = 200.0


def archive_kind(path: Path) -> str | None:
    """``"zip"`` or ``"tar"`` judged from the content (never the name), else None."""
    if zipfile.is_zipfile(path):
        return "zip"
    try:
        if tarfile.is_tarfile(path):
            return "tar"
    except (OSError, EOFError, tarfile.TarError):
        return None
    return None


def list_members(path: Path) -> list[str]:
    """Member names of an archive without extracting anything (empty if not one)."""
    kind = archive_kind(path)
    try:
        if kind == "zip":
            with zipfile.ZipFile(path) as zf:
                return zf.namelist()
        if kind == "tar":
            with tarfile.open(path, "r:*") as tf:
                return tf.getnames()
    except (OSError, EOFError, zipfile.BadZipFile, tarfile.TarError):
        return []
    return []


def extract_archive(path: Path, dest: Path, limits: ArchiveLimits | None = None) -> Path:
    """Extract ``path`` into the (new or empty) folder ``dest``; return ``dest``.

    Raises ``InvalidUpload`` when the file is not a zip or tar archive or when any
    member breaks a rule; ``dest`` is then removed again, so no half-extracted tree
    is left behind.

    >>> extract_archive(Path("model.zip"), Path("/tmp/x"))  # doctest: +SKIP
    """
    limits = limits or ArchiveLimits()
    kind = archive_kind(path)
    if kind is None:
        raise InvalidUpload(
            f"{path.name!r} is not a zip or tar archive; upload a SavedModel folder "
            "packed as .zip, .tar.gz or .tgz"
        )
    dest.mkdir(parents=True, exist_ok=True)
    if any(dest.iterdir()):
        raise InvalidUpload(f"extraction folder {dest} is not empty")
    try:
        if kind == "zip":
            _extract_zip(path, dest, limits)
        else:
            _extract_tar(path, dest, limits)
    except InvalidUpload:
        shutil.rmtree(dest, ignore_errors=True)
        raise
    except (OSError, EOFError, zipfile.BadZipFile, tarfile.TarError) as exc:
        shutil.rmtree(dest, ignore_errors=True)
        raise InvalidUpload(f"archive {path.name!r} is damaged or unreadable: {exc}") from exc
    return dest


def find_saved_model_root(folder: Path) -> Path:
    """The folder holding ``saved_model.pb``: ``folder`` itself or its one top folder."""
    if (folder / "saved_model.pb").is_file():
        return folder
    entries = [p for p in folder.iterdir() if not p.name.startswith("__MACOSX")]
    if len(entries) == 1 and entries[0].is_dir() and (entries[0] / "saved_model.pb").is_file():
        return entries[0]
    raise InvalidUpload(
        "no saved_model.pb found at the archive's root or inside its one top folder; "
        "pack the folder written by tf.saved_model.save (e.g. `zip -r model.zip model/`)"
    )


# --- member checks -------------------------------------------------------------------


def _safe_relative(name: str) -> PurePosixPath:
    """The member's path relative to the extraction folder, or InvalidUpload."""
    if "\\" in name or "\x00" in name:
        raise InvalidUpload(f"archive member {name!r} has a backslash or NUL in its name")
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise InvalidUpload(f"archive member {name!r} has an absolute path; refused")
    rel = PurePosixPath(name)
    if any(part == ".." for part in rel.parts):
        raise InvalidUpload(f"archive member {name!r} climbs out of the archive with '..'")
    parts = [p for p in rel.parts if p not in ("", ".")]
    return PurePosixPath(*parts) if parts else PurePosixPath(".")


class _Budget:
    """Refuses repeated members and counts bytes actually written against the limits.

    The member count is checked where members are listed (``_extract_zip``, ``_iter_tar``).
    """

    def __init__(self, limits: ArchiveLimits, archive_size: int) -> None:
        self.limits = limits
        self.archive_size = max(archive_size, 1)
        self.written = 0
        self.seen: set[PurePosixPath] = set()

    def member(self, rel: PurePosixPath, name: str) -> None:
        if rel in self.seen and rel != PurePosixPath("."):
            raise InvalidUpload(f"archive member {name!r} appears twice; refused")
        self.seen.add(rel)

    def add(self, n: int) -> None:
        self.written += n
        if self.written > self.limits.max_total_bytes:
            raise InvalidUpload(
                f"archive expands to more than {self.limits.max_total_bytes} bytes; refused"
            )
        if self.written > 1 << 20 and self.written / self.archive_size > self.limits.max_ratio:
            raise InvalidUpload(
                f"archive expands more than {self.limits.max_ratio:g} times its size "
                "(a compression bomb?); refused"
            )


def _target(dest: Path, rel: PurePosixPath, name: str) -> Path:
    target = (dest / rel).resolve()
    root = dest.resolve()
    if target != root and root not in target.parents:
        raise InvalidUpload(f"archive member {name!r} would be written outside the archive")
    # A parent created earlier could only be a folder we made ourselves (links are
    # refused), but check anyway: nothing is ever written through a link.
    for parent in [target, *target.parents]:
        if parent == root:
            break
        if parent.is_symlink():
            raise InvalidUpload(f"archive member {name!r} goes through a link; refused")
    return target


def _copy(src: IO[bytes], target: Path, budget: _Budget) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target, "xb") as out:
        while chunk := src.read(_CHUNK):
            budget.add(len(chunk))
            out.write(chunk)


# --- zip -------------------------------------------------------------------------------


def _zip_mode(info: zipfile.ZipInfo) -> int:
    return (info.external_attr >> 16) & 0xFFFF


def _check_zip_member(info: zipfile.ZipInfo, limits: ArchiveLimits) -> None:
    kind = stat.S_IFMT(_zip_mode(info))  # 0 when the zip was written without a type
    if kind == stat.S_IFLNK:
        raise InvalidUpload(f"archive member {info.filename!r} is a symbolic link; refused")
    if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
        raise InvalidUpload(
            f"archive member {info.filename!r} is not a regular file or folder; refused"
        )
    if info.file_size > limits.max_total_bytes:
        raise InvalidUpload(
            f"archive member {info.filename!r} claims {info.file_size} bytes, over the "
            f"limit of {limits.max_total_bytes}; refused"
        )
    ratio = info.file_size / max(info.compress_size, 1)
    if info.file_size > 1 << 20 and ratio > limits.max_ratio:
        raise InvalidUpload(
            f"archive member {info.filename!r} expands {ratio:.0f}"
            f" times (limit {limits.max_ratio:g}; a compression bomb?); refused"
        )


def _extract_zip(path: Path, dest: Path, limits: ArchiveLimits) -> None:
    with zipfile.ZipFile(path) as zf:
        infos = zf.infolist()
        if len(infos) > limits.max_members:
            raise InvalidUpload(f"archive has {len(infos)} members, over {limits.max_members}")
        budget = _Budget(limits, path.stat().st_size)
        for info in infos:
            rel = _safe_relative(info.filename)
            _check_zip_member(info, limits)
            budget.member(rel, info.filename)
            target = _target(dest, rel, info.filename)
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            with zf.open(info) as src:
                _copy(src, target, budget)


# --- tar -------------------------------------------------------------------------------


def _iter_tar(tf: tarfile.TarFile, limits: ArchiveLimits) -> Iterator[tarfile.TarInfo]:
    count = 0
    while (member := tf.next()) is not None:
        count += 1
        if count > limits.max_members:
            raise InvalidUpload(f"archive has more than {limits.max_members} members; refused")
        yield member


def _check_tar_member(member: tarfile.TarInfo) -> None:
    if member.issym():
        raise InvalidUpload(f"archive member {member.name!r} is a symbolic link; refused")
    if member.islnk():
        raise InvalidUpload(f"archive member {member.name!r} is a hard link; refused")
    if member.ischr() or member.isblk():
        raise InvalidUpload(f"archive member {member.name!r} is a device file; refused")
    if member.isfifo():
        raise InvalidUpload(f"archive member {member.name!r} is a fifo; refused")
    if not (member.isreg() or member.isdir()):
        raise InvalidUpload(
            f"archive member {member.name!r} is not a regular file or folder; refused"
        )


def _extract_tar(path: Path, dest: Path, limits: ArchiveLimits) -> None:
    budget = _Budget(limits, path.stat().st_size)
    with tarfile.open(path, "r:*") as tf:
        for member in _iter_tar(tf, limits):
            rel = _safe_relative(member.name)
            _check_tar_member(member)
            budget.member(rel, member.name)
            target = _target(dest, rel, member.name)
            if member.isdir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            src = tf.extractfile(member)
            if src is None:  # pragma: no cover - regular members always have data
                raise InvalidUpload(f"archive member {member.name!r} has no data")
            with src:
                _copy(src, target, budget)

"""Streamed, verified artifact downloads.

The bytes go to a temporary file next to the destination while being hashed;
only when the sha256 matches the registry's record (and the ``ETag``) is the file
fsynced and renamed into place, so a destination never holds a partial or
corrupt artifact. The transfer itself is the runtime's (runtime._transfer, through
the runtime's fetcher): ``runtime.load`` fills its cache the same way.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

from clients._multipart import Progress
from clients._types import ArtifactInfo, VersionInfo
from runtime import ARTIFACT_EXTENSIONS, FORMAT_PREFERENCE, PULL_MANIFEST
from runtime._transfer import write_verified
from runtime._wire import PullManifest
from runtime.errors import ArtifactNotFound, IntegrityError, RegistryError

if TYPE_CHECKING:
    import httpx

    from runtime._remote import Fetcher

__all__ = ["MANIFEST_NAME", "choose_artifact", "download_artifact"]

MANIFEST_NAME = PULL_MANIFEST
PREFERRED = FORMAT_PREFERENCE
_EXTENSIONS = ARTIFACT_EXTENSIONS
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


def choose_artifact(info: VersionInfo, format: str | None) -> ArtifactInfo:
    """The artifact to download: ``format`` if given, else the best servable one."""
    available = ", ".join(f"{a.format} ({a.status})" for a in info.artifacts) or "none"
    if format is not None:
        art = info.artifact(format)
        if art is None or not art.sha256:
            raise ArtifactNotFound(
                f"{info.ref} has no downloadable {format!r} artifact; available: {available}"
            )
        return art
    for fmt in PREFERRED:
        art = info.artifact(fmt)
        if art is not None and art.servable and art.sha256:
            return art
    art = info.artifact("source")
    if art is not None and art.sha256:
        return art
    raise ArtifactNotFound(f"{info.ref} has nothing to download yet; artifacts: {available}")


def _filename(info: VersionInfo, art: ArtifactInfo) -> str:
    if art.format == "source":
        original = Path(info.source.filename).name
        stem = _SAFE.sub("_", original).lstrip(".")
        return f"{info.name}-{info.version}-{stem}" if stem else f"{info.name}-{info.version}.bin"
    ext = _EXTENSIONS.get(art.format, ".bin")
    if art.files and not ext.endswith(".tar"):
        ext += ".tar"  # a multi-file artifact (e.g. ONNX with external data) is a tar
    return f"{info.name}-{info.version}{ext}"


def _is_folder(dest: Path, text: str) -> bool:
    if dest.is_dir():
        return True
    if text.endswith(("/", os.sep)):
        return True
    return not dest.exists() and dest.suffix == ""


def _etag_sha(response: httpx.Response) -> str | None:
    """The sha256 the registry's ETag names (an object store's own ETag is no sha256)."""
    first = response.history[0] if response.history else response
    etag = first.headers.get("etag")
    if not etag:
        return None
    return etag.removeprefix("W/").strip('"') or None


def _partial_path(target: Path, sha: str) -> Path:
    # Named after the expected hash: a later pull of the same bytes resumes it.
    return target.parent / f".{target.name}.{sha[:16]}.part"


def _resume_offset(partial: Path, size: int | None) -> int:
    """Bytes of ``partial`` worth keeping: a strict prefix of the artifact, else none."""
    try:
        have = partial.stat().st_size
    except FileNotFoundError:
        return 0
    if size is None or have >= size:
        partial.unlink()
        return 0
    return have


def _write_stream(
    response: httpx.Response,
    partial: Path,
    target: Path,
    art: ArtifactInfo,
    offset: int,
    progress: Progress | None,
) -> None:
    """Append (206) or write (200) the body to ``partial``, verify, rename to ``target``.

    A transfer cut short keeps ``partial`` for the next pull to resume; bytes that
    hash wrong are deleted.
    """
    expected = art.sha256
    assert expected is not None
    if response.status_code != 206:
        offset = 0
    header = _etag_sha(response)

    def refusal(actual: str) -> str:
        return (
            f"downloaded bytes hash to {actual}, but the registry records {expected} "
            f"(ETag {header}); the file was discarded, try the pull again"
        )

    if header is not None and header != expected:  # refused before reading a byte
        partial.unlink(missing_ok=True)
        raise IntegrityError(refusal("(not read)"))
    write_verified(
        response,
        target,
        expected,
        size=art.size,
        partial=partial,
        offset=offset,
        progress=progress,
        refusal=refusal,
    )


def _write_manifest(folder: Path, info: VersionInfo, art: ArtifactInfo, filename: str) -> Path:
    manifest = PullManifest(
        name=info.name,
        version=info.version,
        format=art.format,
        filename=filename,
        sha256=art.sha256,
        size=art.size,
        framework=info.framework,
        signature=art.signature or info.signature,
        files=art.files,
    )
    path = folder / MANIFEST_NAME
    tmp = folder / f".{MANIFEST_NAME}.part"
    tmp.write_text(json.dumps(manifest.to_json(), indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)
    return path


def download_artifact(
    fetcher: Fetcher,
    info: VersionInfo,
    format: str | None,
    dest: Path,
    dest_text: str,
    progress: Progress | None,
) -> Path:
    """Download the chosen artifact of ``info`` to ``dest``; return the file's path."""
    art = choose_artifact(info, format)
    assert art.sha256 is not None
    folder_mode = _is_folder(dest, dest_text)
    filename = _filename(info, art)
    target = dest / filename if folder_mode else dest
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = _partial_path(target, art.sha256)
    offset = _resume_offset(partial, art.size)
    headers = {"Range": f"bytes={offset}-"} if offset else None
    try:
        with fetcher.artifact(info.name, info.version, art.format, headers) as response:
            _write_stream(response, partial, target, art, offset, progress)
    except IntegrityError:
        if not offset:
            raise
        # the kept partial file was not a prefix of the artifact: it is gone, start over
        return download_artifact(fetcher, info, format, dest, dest_text, progress)
    except RegistryError as exc:
        if exc.status != 416 or not offset:
            raise
        partial.unlink(missing_ok=True)  # the partial file is no prefix: start over
        return download_artifact(fetcher, info, format, dest, dest_text, progress)
    if folder_mode:
        _write_manifest(target.parent, info, art, filename)
    return target

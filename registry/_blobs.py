"""Content-addressed blob storage: ``<root>/sha256/ab/cdef…``.

Writes stream into a staging file on the same file system while hashing, are
fsynced, then renamed into place atomically; identical bytes are stored once.

A staging file is held under an exclusive ``flock`` by the process writing it, so a
process that dies mid-upload leaves a file nobody holds: ``reclaim_staging`` (run when
a store opens, and from time to time while it is used) removes those, and any staging
file older than the maximum age whatever its lock says.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Protocol, runtime_checkable

from runtime.errors import ArtifactNotFound, PayloadTooLarge

__all__ = [
    "Blob",
    "BlobStore",
    "LocalBlobStore",
    "StagedBlob",
    "Staging",
    "StagingFile",
    "check_blob_id",
    "write_staging_file",
]

CHUNK = 1024 * 1024
STAGING_MAX_AGE_S = 24 * 3600.0
_SWEEP_EVERY_S = 600.0
_SHA_RE = re.compile(r"[0-9a-f]{64}")


def check_blob_id(sha256: str) -> str:
    """``sha256`` when it is a blob id (64 lowercase hex); else ``ArtifactNotFound``."""
    if not _SHA_RE.fullmatch(sha256):
        raise ArtifactNotFound(f"invalid blob id {sha256!r}: expected 64 hex characters")
    return sha256


@dataclass(frozen=True, slots=True)
class Blob:
    """A stored blob: its sha256 (hex) and size in bytes."""

    sha256: str
    size: int


@dataclass
class StagedBlob:
    """Bytes written to a local staging file and hashed, not yet in the store.

    ``path`` may be read (e.g. to sniff a framework); ``commit()`` publishes the bytes
    under their content address, checking the sha256 on the way.
    """

    path: Path
    sha256: str
    size: int
    _publish: Callable[[Path, str], None] = field(repr=False)
    committed: bool = False

    @property
    def blob(self) -> Blob:
        return Blob(self.sha256, self.size)

    def commit(self) -> Blob:
        """Publish the staged bytes (a no-op when the same bytes are already stored)."""
        if not self.committed:
            self._publish(self.path, self.sha256)
            self.committed = True
        return self.blob


@runtime_checkable
class BlobStore(Protocol):
    """Where blobs live: ``LocalBlobStore`` (a folder) or ``S3BlobStore`` (a bucket)."""

    def staging(
        self, stream: BinaryIO, *, limit: int | None = None
    ) -> AbstractContextManager[StagedBlob]:
        """Context manager: stage ``stream`` while hashing; the staging file goes at exit.

        Call ``commit()`` inside the block to keep the bytes. Raises ``PayloadTooLarge``.
        """
        ...

    def put(self, stream: BinaryIO, *, limit: int | None = None) -> Blob:
        """Store ``stream``; return its sha256 and size."""
        ...

    def put_file(self, path: Path) -> Blob:
        """Store the bytes of a local file."""
        ...

    def exists(self, sha256: str) -> bool: ...

    def open(self, sha256: str) -> BinaryIO:
        """Open a stored blob for reading (seekable); raise ``ArtifactNotFound`` when missing."""
        ...

    def size(self, sha256: str) -> int: ...

    def copy_to(self, sha256: str, dest: Path) -> None:
        """Write the blob's bytes to ``dest`` (a local file)."""
        ...

    def presign(self, sha256: str, *, filename: str, media_type: str) -> str | None:
        """A short-lived URL that serves the blob directly, or None when the store has none."""
        ...

    def check_writable(self) -> None:
        """Raise ``OSError`` when the store cannot take writes."""
        ...


class Staging:
    """A folder of staging files, each locked by the process that writes it.

    >>> staging = Staging(Path("/tmp/mp/tmp"))                       # doctest: +SKIP
    >>> with staging.write(io.BytesIO(b"hi"), limit=None) as (path, sha, size): ...
    """

    def __init__(self, folder: Path, max_age_s: float = STAGING_MAX_AGE_S) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.max_age_s = max_age_s
        self._last_sweep = 0.0
        self.reclaim()

    @contextmanager
    def write(self, stream: BinaryIO, *, limit: int | None) -> Iterator[tuple[Path, str, int]]:
        """Copy ``stream`` into a locked staging file; yield (path, sha256, size).

        The file is removed at exit unless something renamed it away meanwhile.
        """
        if time.monotonic() - self._last_sweep > _SWEEP_EVERY_S:
            self.reclaim()
        # locked under a name the sweep skips, then renamed: never seen unlocked
        fd, name = tempfile.mkstemp(dir=self.folder, prefix="new-")
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        path = Path(name).with_name("upload-" + Path(name).name.removeprefix("new-"))
        try:
            os.rename(name, path)
            sha, size = _copy_hashed(stream, fd, limit)
            yield path, sha, size
        finally:
            for leftover in (Path(name), path):
                with suppress(FileNotFoundError):
                    leftover.unlink()
            os.close(fd)  # releases the lock after the file is gone

    def reclaim(self) -> list[Path]:
        """Remove staging files of dead writers, and any older than ``max_age_s``."""
        self._last_sweep = time.monotonic()
        removed = []
        cutoff = time.time() - self.max_age_s
        for path in self.folder.glob("*-*"):
            with suppress(FileNotFoundError):
                old = path.stat().st_mtime < cutoff
                if old or (path.name.startswith("upload-") and not _held(path)):
                    path.unlink()
                    removed.append(path)
        return removed


def _held(path: Path) -> bool:
    """Whether a live process holds the staging file's lock."""
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def _copy_hashed(stream: BinaryIO, fd: int, limit: int | None) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    out = os.fdopen(os.dup(fd), "wb")
    with out:
        while chunk := stream.read(CHUNK):
            size += len(chunk)
            if limit is not None and size > limit:
                raise PayloadTooLarge(
                    f"upload exceeds the limit of {limit} bytes; raise "
                    "MODELPORT_MAX_UPLOAD_BYTES on the server or upload a smaller file"
                )
            digest.update(chunk)
            out.write(chunk)
        out.flush()
        os.fsync(out.fileno())
    return digest.hexdigest(), size


@dataclass(frozen=True, slots=True)
class StagingFile:
    """A hashed local file written by :func:`write_staging_file`."""

    path: Path
    sha256: str
    size: int


def write_staging_file(stream: BinaryIO, folder: Path, *, limit: int | None) -> StagingFile:
    """Copy ``stream`` into a new fsynced file in ``folder`` while hashing it.

    For callers that own the file's life; stores stage through :class:`Staging`, whose
    files are locked and reclaimed. The file is removed when the copy fails; raises
    ``PayloadTooLarge`` past ``limit`` bytes.
    """
    fd, name = tempfile.mkstemp(dir=folder, prefix="upload-")
    try:
        sha, size = _copy_hashed(stream, fd, limit)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
    finally:
        os.close(fd)
    return StagingFile(Path(name), sha, size)


class LocalBlobStore:
    """A blob store in a local directory.

    >>> store = LocalBlobStore(Path("/tmp/blobs"))          # doctest: +SKIP
    >>> store.put(io.BytesIO(b"hi")).sha256[:8]             # doctest: +SKIP
    '8f434346'
    """

    def __init__(self, root: Path, *, staging_max_age_s: float = STAGING_MAX_AGE_S) -> None:
        self.root = Path(root)
        (self.root / "sha256").mkdir(parents=True, exist_ok=True)
        self._staging = Staging(self.root / "tmp", staging_max_age_s)

    def path(self, sha256: str) -> Path:
        """Where the blob with this hash lives (the hash is validated, never a user path)."""
        check_blob_id(sha256)
        return self.root / "sha256" / sha256[:2] / sha256[2:]

    @contextmanager
    def staging(self, stream: BinaryIO, *, limit: int | None = None) -> Iterator[StagedBlob]:
        with self._staging.write(stream, limit=limit) as (path, sha, size):
            yield StagedBlob(path, sha, size, self._publish)

    def reclaim_staging(self) -> list[Path]:
        """Remove abandoned staging files now (see ``Staging.reclaim``)."""
        return self._staging.reclaim()

    def put(self, stream: BinaryIO, *, limit: int | None = None) -> Blob:
        with self.staging(stream, limit=limit) as staged:
            return staged.commit()

    def put_file(self, path: Path) -> Blob:
        with path.open("rb") as fh:
            return self.put(fh)

    def _publish(self, staged: Path, sha256: str) -> None:
        final = self.path(sha256)
        if final.exists():
            return  # the staging file is removed when its block ends
        final.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(staged, 0o444)
        os.replace(staged, final)
        _fsync_dir(final.parent)

    def exists(self, sha256: str) -> bool:
        return self.path(sha256).is_file()

    def open(self, sha256: str) -> BinaryIO:
        try:
            return self.path(sha256).open("rb")
        except FileNotFoundError:
            raise ArtifactNotFound(
                f"blob {sha256} is missing from the store at {self.root}; "
                "the data folder may be incomplete"
            ) from None

    def size(self, sha256: str) -> int:
        return self.path(sha256).stat().st_size

    def copy_to(self, sha256: str, dest: Path) -> None:
        with self.open(sha256) as src, dest.open("wb") as out:
            while chunk := src.read(CHUNK):
                out.write(chunk)

    def presign(self, sha256: str, *, filename: str, media_type: str) -> str | None:
        return None  # a folder has no URL of its own: the API streams it

    def check_writable(self) -> None:
        fd, name = tempfile.mkstemp(dir=self._staging.folder, prefix="probe-")
        os.close(fd)
        os.unlink(name)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

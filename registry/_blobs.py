"""Content-addressed blob storage: ``<root>/sha256/ab/cdef…``.

Writes stream into a temporary file on the same file system while hashing, are
fsynced, then renamed into place atomically; identical bytes are stored once.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol, runtime_checkable

from runtime.errors import ArtifactNotFound, PayloadTooLarge

__all__ = [
    "Blob",
    "BlobStore",
    "LocalBlobStore",
    "StagedBlob",
    "StagingFile",
    "check_blob_id",
    "write_staging_file",
]

CHUNK = 1024 * 1024
_SHA_RE = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True, slots=True)
class Blob:
    """A stored blob: its sha256 (hex) and size in bytes."""

    sha256: str
    size: int


@dataclass
class StagedBlob:
    """Bytes hashed into a local staging file but not yet in the store.

    ``path`` is a local file that can be read (sniffed, scanned) while the bytes are
    staged; ``commit()`` publishes them through the store that staged them.
    """

    path: Path
    sha256: str
    size: int
    _publish: Callable[[Path, str], None]
    committed: bool = False

    @property
    def blob(self) -> Blob:
        return Blob(self.sha256, self.size)

    def commit(self) -> Blob:
        """Publish the staged bytes (a no-op when the store already holds them)."""
        if not self.committed:
            self._publish(self.path, self.sha256)
            self.committed = True
        return self.blob


@runtime_checkable
class BlobStore(Protocol):
    """Where blobs live, addressed by the sha256 of their bytes.

    Everything the registry and the job runner need from a store: ``LocalBlobStore``
    here; any other (S3, ...) implements these methods and nothing else changes.
    Blob ids are always 64 lowercase hex characters; implementations refuse others
    with ``ArtifactNotFound``.
    """

    def staging(
        self, stream: BinaryIO, *, limit: int | None = None
    ) -> AbstractContextManager[StagedBlob]:
        """Hash ``stream`` into a local staging file; it is removed when the block ends.

        Call ``commit()`` on the yielded :class:`StagedBlob` inside the block to keep the
        bytes. Raises ``PayloadTooLarge`` past ``limit`` bytes.
        """
        ...

    def put(self, stream: BinaryIO, *, limit: int | None = None) -> Blob:
        """Store ``stream``; return its sha256 and size."""
        ...

    def put_file(self, path: Path) -> Blob:
        """Store the local file at ``path``."""
        ...

    def exists(self, sha256: str) -> bool: ...

    def open(self, sha256: str) -> BinaryIO:
        """A seekable binary stream of the blob; raise ``ArtifactNotFound`` when missing."""
        ...

    def size(self, sha256: str) -> int: ...

    def copy_to(self, sha256: str, dest: Path) -> None:
        """Write the blob's bytes to the local file ``dest``."""
        ...

    def check_writable(self) -> None:
        """Raise ``OSError`` when the store cannot take writes (``/readyz``)."""
        ...


def check_blob_id(sha256: str) -> str:
    """``sha256`` when it is a blob id (64 lowercase hex); else ``ArtifactNotFound``."""
    if not _SHA_RE.fullmatch(sha256):
        raise ArtifactNotFound(f"invalid blob id {sha256!r}: expected 64 hex characters")
    return sha256


def write_staging_file(stream: BinaryIO, folder: Path, *, limit: int | None) -> StagingFile:
    """Copy ``stream`` into a new fsynced file in ``folder`` while hashing it.

    Shared by stores that stage locally before publishing. The file is removed when
    the copy fails; raises ``PayloadTooLarge`` past ``limit`` bytes.
    """
    fd, name = tempfile.mkstemp(dir=folder, prefix="upload-")
    path = Path(name)
    digest = hashlib.sha256()
    size = 0
    try:
        with os.fdopen(fd, "wb") as out:
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
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return StagingFile(path, digest.hexdigest(), size)


@dataclass(frozen=True, slots=True)
class StagingFile:
    """A hashed local file written by :func:`write_staging_file`."""

    path: Path
    sha256: str
    size: int


class LocalBlobStore:
    """A blob store in a local directory.

    >>> store = LocalBlobStore(Path("/tmp/blobs"))          # doctest: +SKIP
    >>> store.put(io.BytesIO(b"hi")).sha256[:8]             # doctest: +SKIP
    '8f434346'
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._tmp = self.root / "tmp"
        self._tmp.mkdir(parents=True, exist_ok=True)
        (self.root / "sha256").mkdir(parents=True, exist_ok=True)

    def path(self, sha256: str) -> Path:
        """Where the blob with this hash lives (the hash is validated, never a user path)."""
        check_blob_id(sha256)
        return self.root / "sha256" / sha256[:2] / sha256[2:]

    @contextmanager
    def staging(self, stream: BinaryIO, *, limit: int | None = None) -> Iterator[StagedBlob]:
        staged = self.stage(stream, limit=limit)
        try:
            yield staged
        finally:
            with suppress(FileNotFoundError):
                staged.path.unlink()

    def stage(self, stream: BinaryIO, *, limit: int | None = None) -> StagedBlob:
        """Stage without cleanup: the caller removes ``path`` unless it commits."""
        f = write_staging_file(stream, self._tmp, limit=limit)
        return StagedBlob(f.path, f.sha256, f.size, self._publish)

    def put(self, stream: BinaryIO, *, limit: int | None = None) -> Blob:
        with self.staging(stream, limit=limit) as staged:
            return staged.commit()

    def put_file(self, path: Path) -> Blob:
        with path.open("rb") as fh:
            return self.put(fh)

    def _publish(self, staged: Path, sha256: str) -> None:
        final = self.path(sha256)
        if final.exists():
            staged.unlink(missing_ok=True)
            return
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

    def check_writable(self) -> None:
        fd, name = tempfile.mkstemp(dir=self._tmp, prefix="probe-")
        os.close(fd)
        os.unlink(name)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

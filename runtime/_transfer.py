"""Verified downloads to disk: every byte hashed, nothing half-written in place.

Both the runtime's cache (``Cache.store``) and the SDK's ``pull`` write artifacts
through :func:`write_verified`: the bytes go to a temporary file in the target's
folder, the sha256 of everything written is checked against the expected one, the
file is fsynced once and renamed into place. A mismatch deletes the file; so does
any failure on the way, unless the caller keeps a resumable ``partial`` file.

The receive loop is built for speed on few cores. When the answer offers
``readinto`` (see :mod:`runtime._bulk`), the socket fills reusable 4 MiB buffers
directly; each filled buffer is written from a memoryview and handed to a second
thread that hashes it (hashlib releases the GIL on large inputs), so hashing overlaps
receiving and writing. Other sources (httpx's own stream, an iterable of chunks) are
written with ``os.writev`` in batches and hashed on the same kind of thread, with no
joining copies.
"""

from __future__ import annotations

import functools
import hashlib
import os
import queue
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from runtime.errors import IntegrityError

__all__ = ["BLOCK", "READINTO", "Progress", "write_verified"]

#: Response extension under which a body offers ``readinto(memoryview) -> int``.
READINTO = "modelport.readinto"
#: Bytes per buffer of the readinto path (and per batch of the chunk path).
BLOCK = 4 << 20
_BUFFERS = 3  # one being filled, one being hashed, one spare: 12 MiB whatever the size

# (bytes done so far, total bytes or None when unknown)
Progress = Callable[[int, int | None], None]


class _Hasher:
    """Hashes what it is given on its own thread, in order; ``done`` is called after
    each item (to recycle a buffer)."""

    def __init__(self, digest: Any) -> None:
        self.digest = digest
        self._queue: queue.SimpleQueue[tuple[Any, Callable[[], None] | None] | None] = (
            queue.SimpleQueue()
        )
        self._thread = threading.Thread(target=self._run, name="modelport-sha256", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        update = self.digest.update
        while (item := self._queue.get()) is not None:
            data, done = item
            if isinstance(data, list):
                for chunk in data:
                    update(chunk)
            else:
                update(data)
            if done is not None:
                done()

    def add(self, data: Any, done: Callable[[], None] | None = None) -> None:
        self._queue.put((data, done))

    def finish(self) -> str:
        """Wait for everything given so far; the hex digest."""
        self._queue.put(None)
        self._thread.join()
        return str(self.digest.hexdigest())


def _write_all(fd: int, view: memoryview) -> None:
    while view:
        view = view[os.write(fd, view) :]


def _receive_blocks(
    readinto: Callable[[memoryview], int],
    fd: int,
    hasher: _Hasher,
    done: int,
    total: int | None,
    progress: Progress | None,
) -> int:
    free: queue.SimpleQueue[bytearray] = queue.SimpleQueue()
    size = BLOCK if total is None else max(1, min(BLOCK, total - done))
    made = 0
    while True:
        if made < _BUFFERS and free.empty():
            buffer, made = bytearray(size), made + 1
        else:
            buffer = free.get()  # waits while the hasher is behind
        view = memoryview(buffer)
        got = 0
        while got < size and (n := readinto(view[got:])):
            got += n
        if got:
            _write_all(fd, view[:got])
            hasher.add(view[:got], functools.partial(free.put, buffer))
            done += got
            if progress is not None:
                progress(done, total)
        if got < size:
            return done


def _receive_chunks(
    chunks: Iterable[bytes],
    fd: int,
    hasher: _Hasher,
    done: int,
    total: int | None,
    progress: Progress | None,
) -> int:
    batch: list[bytes] = []
    size = 0
    for chunk in chunks:
        batch.append(chunk)
        size += len(chunk)
        if size >= BLOCK:
            done = _flush(batch, size, fd, hasher, done, total, progress)
            batch, size = [], 0
    if batch:
        done = _flush(batch, size, fd, hasher, done, total, progress)
    return done


def _flush(
    batch: list[bytes],
    size: int,
    fd: int,
    hasher: _Hasher,
    done: int,
    total: int | None,
    progress: Progress | None,
) -> int:
    written = os.writev(fd, batch)
    if written < size:  # a short write: the rest one chunk at a time
        _write_all(fd, memoryview(b"".join(batch))[written:])
    hasher.add(batch)
    done += size
    if progress is not None:
        progress(done, total)
    return done


def _source_of(source: Any) -> tuple[Callable[[memoryview], int] | None, Iterable[bytes]]:
    """(readinto, chunks) of a response or an iterable of chunks."""
    extensions = getattr(source, "extensions", None)
    if extensions is None:
        return None, source
    encoding = str(source.headers.get("content-encoding", "identity")).lower()
    readinto = extensions.get(READINTO)
    if readinto is not None and encoding in ("", "identity"):
        return readinto, ()
    return None, source.iter_bytes()  # decoded (gzip...) by httpx


def write_verified(
    source: Any,
    target: Path,
    expected: str,
    *,
    size: int | None = None,
    partial: Path | None = None,
    offset: int = 0,
    progress: Progress | None = None,
    refusal: Callable[[str], str] | None = None,
) -> Path:
    """Write ``source`` to ``target`` if its bytes hash to sha256 ``expected``.

    ``source`` is an httpx response being streamed (its ``readinto`` extension used
    when offered) or an iterable of ``bytes``. ``size`` is the whole file's length
    when known (for progress and buffer sizes). The bytes go to a temporary file in
    ``target``'s folder, fsynced and renamed over ``target`` only when the sha256 of
    the whole file matches; otherwise the file is deleted and :class:`IntegrityError`
    raised (message from ``refusal(actual)`` when given).

    ``partial`` names the temporary file and keeps it when the transfer fails on the
    way (not when the bytes hash wrong), for a later call to resume: with ``offset``
    the file (``offset`` bytes long) is kept and hashed first, and ``source`` holds
    the rest.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    if partial is None:
        import tempfile

        fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
        tmp, offset = Path(name), 0
    else:
        tmp = partial
        if offset:
            with open(tmp, "rb") as fh:
                digest = hashlib.file_digest(fh, "sha256")
        flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if offset else os.O_TRUNC)
        fd = os.open(tmp, flags, 0o644)
    keep = partial is not None
    try:
        try:
            hasher = _Hasher(digest)
            try:
                readinto, chunks = _source_of(source)
                if readinto is not None:
                    _receive_blocks(readinto, fd, hasher, offset, size, progress)
                else:
                    _receive_chunks(chunks, fd, hasher, offset, size, progress)
            finally:
                actual = hasher.finish()
            if actual == expected:
                os.fsync(fd)
        finally:
            os.close(fd)
        if actual != expected:
            keep = False
            text = refusal(actual) if refusal is not None else None
            raise IntegrityError(
                text
                or f"downloaded bytes hash to sha256 {actual}, but the registry announced "
                f"{expected}; nothing was kept. Retry; if it persists the registry's stored "
                "blob is damaged"
            )
        os.replace(tmp, target)
    except BaseException:
        if not keep:
            tmp.unlink(missing_ok=True)
        raise
    return target

"""Verified downloads to disk: every byte hashed, nothing half-written in place.

Both the runtime's cache (``Cache.store``) and the SDK's ``pull`` write artifacts
through :func:`write_verified`: the bytes go to a temporary file in the target's
folder, the sha256 of everything written is checked against the expected one, the
file is fsynced once and renamed into place. A mismatch deletes the file; so does
any failure on the way, unless the caller keeps a resumable ``partial`` file.

The receive loop is built for speed on few cores. When the answer offers
``readinto`` (see :mod:`runtime._bulk`), the socket fills a reusable 4 MiB buffer
directly, which is written from a memoryview and hashed: no copy beyond the
kernel's. Other sources (httpx's own stream, an iterable of chunks) are written
with ``os.writev`` in 4 MiB batches, with no joining copies. When a core is spare,
hashing runs on a second thread (hashlib releases the GIL on large inputs) and
overlaps receiving and writing, with three buffers in turn; on a busy machine it
stays on the receiving thread, which is then faster (measured: bench/vs_mlflow.py).
"""

from __future__ import annotations

import functools
import hashlib
import os
import queue
import sys
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, cast

from runtime.errors import IntegrityError

__all__ = ["BLOCK", "READINTO", "Progress", "write_verified"]

#: Response extension under which a body offers ``readinto(memoryview) -> int``.
READINTO = "modelport.readinto"
#: Bytes per buffer of the readinto path (and per batch of the chunk path).
BLOCK = 4 << 20
_BUFFERS = 3  # one being filled, one being hashed, one spare: 12 MiB whatever the size

# (bytes done so far, total bytes or None when unknown)
Progress = Callable[[int, int | None], None]


class _Inline:
    """Hashes what it is given at once, on the receiving thread."""

    def __init__(self, digest: Any) -> None:
        self.digest = digest

    def add(self, data: Any, done: Callable[[], None] | None = None) -> None:
        if isinstance(data, list):
            for chunk in data:
                self.digest.update(chunk)
        else:
            self.digest.update(data)
        if done is not None:
            done()

    def finish(self) -> str:
        return str(self.digest.hexdigest())


def _spare_core() -> bool:
    """Whether a second thread would find a core to itself: more than one core idle
    over the last minute. On a busy machine (or two cores shared with the server)
    hashing on the receiving thread is faster: a three-stage pipeline then stalls
    whenever one of its threads waits for a core."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    try:
        load = os.getloadavg()[0]
    except OSError:  # no load average to read
        return cores > 2
    return cores - load > 1.5


class _Hasher(_Inline):
    """Hashes what it is given on its own thread, in order; ``done`` is called after
    each item (to recycle a buffer)."""

    def __init__(self, digest: Any) -> None:
        super().__init__(digest)
        self._queue: queue.SimpleQueue[tuple[Any, Callable[[], None] | None] | None] = (
            queue.SimpleQueue()
        )
        self._thread = threading.Thread(target=self._run, name="modelport-sha256", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            super().add(*item)

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


_WRITEBACK_STEP = 16 << 20  # start the disk writes of every 16 MiB written
_SYNC_FILE_RANGE_WRITE = 2


@functools.cache
def _sync_file_range() -> Callable[[int, int, int, int], int] | None:
    """Linux's ``sync_file_range``, which the os module does not offer; None elsewhere."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    try:
        call = ctypes.CDLL(None, use_errno=True).sync_file_range
    except (AttributeError, OSError):
        return None
    call.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
    call.restype = ctypes.c_int
    return cast(Callable[[int, int, int, int], int], call)


class _Sink:
    """Where received bytes go: the file, the hasher, the progress callback.

    Every 16 MiB it asks the kernel to start writing what was written so far to disk,
    without waiting (``sync_file_range(SYNC_FILE_RANGE_WRITE)``): the disk works while
    the network does, and the one fsync at the end, which still decides durability,
    finds little left to do (200 MB: ~90 ms of fsync down to a few ms).
    """

    def __init__(
        self, fd: int, hasher: _Inline, done: int, total: int | None, progress: Progress | None
    ) -> None:
        self.fd, self.hasher, self.done, self.total = fd, hasher, done, total
        self.progress = progress
        large = total is None or total - done > 2 * _WRITEBACK_STEP
        self._writeback = _sync_file_range() if large else None
        self._written = done  # file offset up to which writeback was started

    def wrote(self, n: int) -> None:
        self.done += n
        if self._writeback is not None and self.done - self._written >= _WRITEBACK_STEP:
            # a hint: a failure here changes nothing, the fsync at the end still runs
            self._writeback(
                self.fd, self._written, self.done - self._written, _SYNC_FILE_RANGE_WRITE
            )
            self._written = self.done
        if self.progress is not None:
            self.progress(self.done, self.total)


def _receive_blocks(readinto: Callable[[memoryview], int], sink: _Sink) -> None:
    free: queue.SimpleQueue[bytearray] = queue.SimpleQueue()
    # a small file gets a buffer of its size (no less than 64 KiB: a size announced
    # too small must not make the reads tiny)
    left = BLOCK if sink.total is None else sink.total - sink.done
    size = min(BLOCK, max(left, 1 << 16))
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
            _write_all(sink.fd, view[:got])
            sink.hasher.add(view[:got], functools.partial(free.put, buffer))
            sink.wrote(got)
        if got < size:
            return


def _receive_chunks(chunks: Iterable[bytes], sink: _Sink) -> None:
    batch: list[bytes] = []
    size = 0
    for chunk in chunks:
        batch.append(chunk)
        size += len(chunk)
        if size >= BLOCK:
            _flush(batch, size, sink)
            batch, size = [], 0
    if batch:
        _flush(batch, size, sink)


def _flush(batch: list[bytes], size: int, sink: _Sink) -> None:
    written = os.writev(sink.fd, batch)
    if written < size:  # a short write: the rest one chunk at a time
        _write_all(sink.fd, memoryview(b"".join(batch))[written:])
    sink.hasher.add(batch)
    sink.wrote(size)


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
    threaded: bool | None = None,
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

    ``threaded`` hashes on a second thread (``None``: when a core is spare).
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
            if threaded is None:
                threaded = _spare_core()
            hasher = _Hasher(digest) if threaded else _Inline(digest)
            try:
                sink = _Sink(fd, hasher, offset, size, progress)
                readinto, chunks = _source_of(source)
                if readinto is not None:
                    _receive_blocks(readinto, sink)
                else:
                    _receive_chunks(chunks, sink)
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

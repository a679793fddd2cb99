"""The local cache: content-addressed blobs, unpacked tars, and the last known refs.

Layout under the cache root (``cache_dir`` argument, else ``MODELPORT_CACHE``, else
``$MODELPORT_HOME/cache``, else ``~/.cache/modelport``)::

    blobs/sha256/ab/cdef...        artifact bytes, named by their sha256
    unpacked/<sha256>/             a tar artifact's members (SavedModel, external data)
    graphs/<sha256>/               onnxruntime-optimised graphs of an ONNX blob (_graphs)
    refs/<registry>/<name>/        version documents and alias targets, for offline use
    locks/<sha256>.lock            one lock per blob: one download across processes

Every write goes to a temporary file in the same folder and is renamed into place.
Modules only writes need (tarfile, tempfile, shutil) are imported where they are used:
a warm load in a fresh process does not pay for them.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import re
import time
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runtime._files import file_sha256
from runtime._memo import remember
from runtime.errors import IntegrityError

if TYPE_CHECKING:  # the documents' module is loaded on the first decode
    from runtime._wire import VersionDoc

__all__ = ["VERIFY_MODES", "Cache", "cache_root", "parse_size", "unpack_tar"]

#: ``full``: re-hash every load; ``stat``: re-hash when the file's stat stamp changed.
VERIFY_MODES = ("full", "stat")

_SHA_RE = re.compile(r"[0-9a-f]{64}")
# Decoded version documents, keyed by file and stat: versions are immutable, so a warm
# load in a long-lived process does not parse the same JSON again.
_DOCS: dict[tuple[str, int, int], Any] = {}
# Stat stamps of blobs this process hashed successfully (for verify="stat").
_SEEN: dict[str, list[int]] = {}
# Folders of things made from a blob, one entry per blob: counted and removed with it.
_DERIVED = ("unpacked", "graphs")
_DOC_PATHS: dict[tuple[Path, str, str, int], Path] = {}
_RESOLVED: dict[tuple[Any, str | None, str | None], Path] = {}


def cache_root(cache_dir: str | Path | None = None) -> Path:
    """The cache folder to use (created if missing; remembered per process, as a warm
    load asks for it every time)."""
    env = os.environ
    key = (cache_dir, env.get("MODELPORT_CACHE"), env.get("MODELPORT_HOME"))
    known = _RESOLVED.get(key)
    if known is not None:
        return known
    root = _find_root(cache_dir)
    root.mkdir(parents=True, exist_ok=True)
    if len(_RESOLVED) < 64:
        _RESOLVED[key] = root
    return root


def _find_root(cache_dir: str | Path | None) -> Path:
    if cache_dir is not None:
        root = Path(cache_dir)
    elif os.environ.get("MODELPORT_CACHE"):
        root = Path(os.environ["MODELPORT_CACHE"])
    elif os.environ.get("MODELPORT_HOME"):
        root = Path(os.environ["MODELPORT_HOME"]) / "cache"
    else:
        root = Path.home() / ".cache" / "modelport"
    return root.expanduser()


_TREE_MANIFEST = ".modelport-files.json"


def _tree_hashes(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): file_sha256(p)
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != _TREE_MANIFEST
    }


def _tree_intact(folder: Path) -> bool:
    try:
        recorded = json.loads((folder / _TREE_MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return bool(recorded == _tree_hashes(folder))


def unpack_tar(tar_path: Path, sha256: str, cache_dir: str | Path | None = None) -> Path:
    """Extract a tar artifact into ``unpacked/<sha256>/`` and return that folder.

    The folder's files are re-hashed on every call against the list written at
    extraction; a modified folder is replaced by a fresh extraction (with a warning).
    Members that would land outside the folder (absolute paths, ``..``, links out) are
    refused by the tarfile ``data`` filter: :class:`IntegrityError`.
    """
    import shutil
    import tarfile
    import tempfile

    from filelock import FileLock

    root = cache_root(cache_dir)
    target = root / "unpacked" / sha256
    (root / "locks").mkdir(parents=True, exist_ok=True)
    with FileLock(str(root / "locks" / f"{sha256}.unpack.lock"), timeout=600):
        if target.is_dir():
            if _tree_intact(target):
                return target
            warnings.warn(
                f"unpacked artifact {target} was modified; extracting it again",
                RuntimeWarning,
                stacklevel=3,
            )
            shutil.rmtree(target, ignore_errors=True)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{sha256[:12]}-", dir=target.parent))
        try:
            try:
                with tarfile.open(tar_path) as tar:
                    tar.extractall(tmp, filter="data")
            except tarfile.TarError as exc:
                raise IntegrityError(f"{tar_path} is not a safe artifact tar: {exc}") from exc
            (tmp / _TREE_MANIFEST).write_text(json.dumps(_tree_hashes(tmp)), encoding="utf-8")
            os.replace(tmp, target)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
    return target


def _atomic_write_text(path: Path, text: str, durable: bool = True) -> None:
    import tempfile

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}-", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            if durable:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


_SIZE_UNITS = {
    "": 1,
    "b": 1,
    "k": 1 << 10,
    "kb": 1 << 10,
    "kib": 1 << 10,
    "m": 1 << 20,
    "mb": 1 << 20,
    "mib": 1 << 20,
    "g": 1 << 30,
    "gb": 1 << 30,
    "gib": 1 << 30,
    "t": 1 << 40,
    "tb": 1 << 40,
    "tib": 1 << 40,
}


def parse_size(text: str | int | None) -> int | None:
    """``"500M"``, ``"2GiB"``, ``"1048576"`` -> bytes; None or empty -> None (unbounded)."""
    if text is None or isinstance(text, int):
        return text
    raw = text.strip().lower().replace(" ", "")
    if not raw:
        return None
    digits = raw.rstrip("abcdefghijklmnopqrstuvwxyz")
    unit = raw[len(digits) :]
    try:
        return int(float(digits) * _SIZE_UNITS[unit])
    except (KeyError, ValueError):
        raise ValueError(
            f"cache size {text!r} does not parse; write bytes or a number with K, M, G or T "
            "(e.g. MODELPORT_CACHE_MAX=2G)"
        ) from None


class Cache:
    """The cache folder of one process; safe to share between processes."""

    def __init__(self, root: str | Path | None = None, max_bytes: int | str | None = None):
        self.root = cache_root(root)
        if max_bytes is None:
            max_bytes = os.environ.get("MODELPORT_CACHE_MAX")
        self.max_bytes = parse_size(max_bytes)

    # blobs ---------------------------------------------------------------------------
    def blob_path(self, sha256: str) -> Path:
        _check_sha(sha256)
        sep = os.sep  # one Path built from text: a warm load asks for this on every call
        return Path(f"{self.root}{sep}blobs{sep}sha256{sep}{sha256[:2]}{sep}{sha256[2:]}")

    def lock(self, sha256: str) -> Any:
        from filelock import FileLock

        _check_sha(sha256)
        path = self.root / "locks" / f"{sha256}.lock"
        path.parent.mkdir(parents=True, exist_ok=True)
        return FileLock(str(path), timeout=600)

    def verified(self, sha256: str, verify: str = "full") -> Path | None:
        """The blob's path when present and intact; a tampered blob is removed (-> None).

        ``verify="full"`` re-hashes the file on every call. ``verify="stat"`` re-hashes
        only when the file's size, inode, mtime or ctime changed since the last full
        hash (any write through the file system changes ctime), which keeps warm loads
        of large models close to raw session creation.
        """
        if verify not in VERIFY_MODES:
            raise ValueError(f"verify={verify!r}: choose one of {', '.join(VERIFY_MODES)}")
        path = self.blob_path(sha256)
        try:
            st = path.stat()
        except OSError:
            return None
        if verify == "stat":
            stamp = _stamp_of(st)
            if _SEEN.get(str(path)) == stamp or self._stamp(sha256) == stamp:
                self.touch(sha256)
                return path
        actual = file_sha256(path)
        if actual == sha256:
            self._write_stamp(sha256, path)
            self.touch(sha256)
            return path
        warnings.warn(
            f"cached file {path} is corrupt (sha256 {actual}, expected {sha256}); "
            "it is removed and will be fetched again",
            RuntimeWarning,
            stacklevel=4,
        )
        path.unlink(missing_ok=True)
        (self.root / "stamps" / sha256).unlink(missing_ok=True)
        self._drop_derived(sha256)
        return None

    def _drop_derived(self, sha256: str) -> None:
        """Remove what was made from blob ``sha256``: its unpacked tree, its graphs."""
        import shutil

        for folder in _DERIVED:
            shutil.rmtree(self.root / folder / sha256, ignore_errors=True)

    def _stamp(self, sha256: str) -> list[int] | None:
        try:
            data = json.loads((self.root / "stamps" / sha256).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return data if isinstance(data, list) else None

    def _write_stamp(self, sha256: str, path: Path) -> None:
        """Remember the stat stamp of a blob that just hashed right (skipped if unchanged;
        not fsynced: a lost stamp only costs one more full hash)."""
        with contextlib.suppress(OSError):
            stamp = _stamp_of(path.stat())
            if _SEEN.get(str(path)) == stamp:
                return  # this process wrote or read the same stamp already
            remember(_SEEN, str(path), stamp)
            if self._stamp(sha256) != stamp:
                _atomic_write_text(self.root / "stamps" / sha256, json.dumps(stamp), durable=False)

    def touch(self, sha256: str) -> None:
        """Record a use of the blob for LRU eviction (a marker file, never the blob itself,
        so the blob's own stat stamp stays unchanged)."""
        marker = f"{self.root}{os.sep}access{os.sep}{sha256}"
        try:
            os.utime(marker)
        except FileNotFoundError:
            with contextlib.suppress(OSError):
                (self.root / "access").mkdir(parents=True, exist_ok=True)
                Path(marker).touch()
        except OSError:
            pass

    def last_used(self, sha256: str, fallback: float) -> float:
        try:
            return (self.root / "access" / sha256).stat().st_mtime
        except OSError:
            return fallback

    def store(self, sha256: str, source: Iterable[bytes] | Any, size: int | None = None) -> Path:
        """Write ``source`` (streamed chunks, or a registry's streamed answer) as blob
        ``sha256``; refuse (and keep nothing) on mismatch. See runtime._transfer."""
        from runtime._transfer import write_verified

        path = write_verified(source, self.blob_path(sha256), sha256, size=size)
        self._write_stamp(sha256, path)
        self.touch(sha256)
        return path

    # refs (offline knowledge) ---------------------------------------------------------
    def _refs(self, registry: str, name: str) -> Path:
        return self.root / "refs" / _registry_key(registry) / name

    def save_version(self, registry: str, doc: VersionDoc) -> None:
        folder = self._refs(registry, doc.name)
        _atomic_write_text(folder / "versions" / f"{doc.version}.json", json.dumps(doc.to_json()))

    def load_version(self, registry: str, name: str, version: int) -> VersionDoc | None:
        """The saved version document, decoded once per file and stat (None when there is
        none, or it cannot be read as one: it is then fetched again)."""
        where = (self.root, registry, name, int(version))
        path = _DOC_PATHS.get(where)
        if path is None:
            path = self._refs(registry, name) / "versions" / f"{int(version)}.json"
            if len(_DOC_PATHS) < 4096:
                _DOC_PATHS[where] = path
        try:
            st = path.stat()
            key = (str(path), st.st_mtime_ns, st.st_size)
            doc: VersionDoc | None = _DOCS.get(key)
            if doc is None:
                from runtime._wire import VersionDoc

                doc = VersionDoc.from_json(json.loads(path.read_text(encoding="utf-8")))
                remember(_DOCS, key, doc)
        except (OSError, ValueError):  # DocumentError is a ValueError
            return None
        return doc

    def save_target(
        self,
        registry: str,
        name: str,
        ref: str,
        version: int,
        weights: dict[str, int] | None = None,
    ) -> None:
        """Remember what ``ref`` (``latest`` or an alias) resolved to, for offline use;
        ``weights`` is a weighted alias's split (wire form), kept so offline picks agree."""
        doc: dict[str, Any] = {"version": int(version), "resolved_at": time.time()}
        if weights is not None:
            doc["weights"] = weights
        _atomic_write_text(self._refs(registry, name) / "targets" / f"{ref}.json", json.dumps(doc))

    def load_target(self, registry: str, name: str, ref: str) -> tuple[int, float] | None:
        found = self.load_target_doc(registry, name, ref)
        if found is None:
            return None
        return int(found["version"]), float(found["resolved_at"])

    def load_target_doc(self, registry: str, name: str, ref: str) -> dict[str, Any] | None:
        """The saved target document: ``version``, ``resolved_at`` and maybe ``weights``."""
        path = self._refs(registry, name) / "targets" / f"{ref}.json"
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
            int(doc["version"]), float(doc["resolved_at"])
        except (OSError, ValueError, KeyError, TypeError):
            return None
        return doc if isinstance(doc, dict) else None

    # eviction ---------------------------------------------------------------------------
    def evict(self, keep: Iterable[str] = ()) -> list[str]:
        """Remove least recently used blobs until the cache fits ``max_bytes``.

        Blobs in ``keep`` (in use now) stay. Returns the removed sha256s.
        """
        if self.max_bytes is None:
            return []
        from filelock import FileLock

        keep = set(keep)
        (self.root / "locks").mkdir(parents=True, exist_ok=True)
        with FileLock(str(self.root / "locks" / "evict.lock"), timeout=600):
            entries = []
            for path in (self.root / "blobs" / "sha256").glob("??/*"):
                if path.name.startswith("."):
                    continue
                try:
                    st = path.stat()
                except OSError:
                    continue
                sha = path.parent.name + path.name
                extra = sum(_tree_size(self.root / folder / sha) for folder in _DERIVED)
                entries.append((self.last_used(sha, st.st_mtime), sha, st.st_size + extra))
            total = sum(size for _, _, size in entries)
            removed = []
            for _, sha, size in sorted(entries):
                if total <= self.max_bytes:
                    break
                if sha in keep:
                    continue
                with self.lock(sha):
                    self.blob_path(sha).unlink(missing_ok=True)
                    self._drop_derived(sha)
                    for extra_file in ("stamps", "access"):
                        (self.root / extra_file / sha).unlink(missing_ok=True)
                total -= size
                removed.append(sha)
            return removed


@functools.lru_cache(maxsize=64)
def _registry_key(registry: str) -> str:
    """A folder name for a registry URL: readable, and unique by a digest of the URL."""
    key = re.sub(r"[^A-Za-z0-9._-]+", "_", registry)[:80]
    return key + "-" + hashlib.sha256(registry.encode()).hexdigest()[:8]


def _stamp_of(st: os.stat_result) -> list[int]:
    return [st.st_size, st.st_ino, st.st_mtime_ns, st.st_ctime_ns]


def _tree_size(folder: Path) -> int:
    if not folder.is_dir():
        return 0
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def _check_sha(sha256: str) -> None:
    if not _SHA_RE.fullmatch(sha256):
        raise IntegrityError(f"{sha256!r} is not a sha256 hex digest")

"""The local cache: content-addressed blobs, unpacked tars, and the last known refs.

Layout under the cache root (``cache_dir`` argument, else ``MODELPORT_CACHE``, else
``$MODELPORT_HOME/cache``, else ``~/.cache/modelport``)::

    blobs/sha256/ab/cdef...        artifact bytes, named by their sha256
    unpacked/<sha256>/             a tar artifact's members (SavedModel, external data)
    refs/<registry>/<name>/        version documents and alias targets, for offline use
    locks/<sha256>.lock            one lock per blob: one download across processes

Every write goes to a temporary file in the same folder and is renamed into place.
"""

from __future__ import annotations

import os
import shutil
import tarfile
import tempfile
from pathlib import Path

__all__ = ["cache_root", "unpack_tar"]


def cache_root(cache_dir: str | Path | None = None) -> Path:
    """The cache folder to use (created if missing)."""
    if cache_dir is not None:
        root = Path(cache_dir)
    elif os.environ.get("MODELPORT_CACHE"):
        root = Path(os.environ["MODELPORT_CACHE"])
    elif os.environ.get("MODELPORT_HOME"):
        root = Path(os.environ["MODELPORT_HOME"]) / "cache"
    else:
        root = Path.home() / ".cache" / "modelport"
    root = root.expanduser()
    root.mkdir(parents=True, exist_ok=True)
    return root


def unpack_tar(tar_path: Path, sha256: str, cache_dir: str | Path | None = None) -> Path:
    """Extract a tar artifact once into ``unpacked/<sha256>/`` and return that folder.

    Members that would land outside the folder (absolute paths, ``..``, links out) are
    refused by the tarfile ``data`` filter.
    """
    target = cache_root(cache_dir) / "unpacked" / sha256
    if target.is_dir():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{sha256[:12]}-", dir=target.parent))
    try:
        with tarfile.open(tar_path) as tar:
            tar.extractall(tmp, filter="data")
        try:
            os.replace(tmp, target)
        except OSError:
            if not target.is_dir():  # another process won the rename: fine
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target

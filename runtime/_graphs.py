"""The optimised-graph cache: onnxruntime's graph optimisations, done once per model.

Creating an ``InferenceSession`` spends most of its time rewriting the graph (constant
folding, fusions, layout changes). The result depends only on the model's bytes, the
onnxruntime build, the optimisation level and the CPU, so the first load of a model saves
the optimised graph and later loads open that with optimisations off: the same kernels,
bit-identical outputs, in about half the time.

Layout under the cache root::

    graphs/<model sha256>/<key>-<graph sha256>.onnx

``key`` digests everything the optimised graph depends on besides the model; the
graph's own sha256 is in its name, so a file is verified on every use and two
processes saving the same graph at once write the same name (``os.replace`` is atomic).
Only CPU sessions use it: a graph optimised for CPU kernels may not suit other
execution providers, which keep their own caches (TensorRT's engine cache).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import platform
import warnings
from pathlib import Path
from typing import Any

from runtime._files import file_sha256
from runtime._memo import remember

__all__ = [
    "GRAPH_CACHE_MAX_BYTES",
    "GraphCache",
    "GraphMiss",
    "graph_cache_enabled",
    "options_allow_graphs",
]

#: Models larger than this are not cached: protobuf caps one file at 2 GiB and reading
#: a graph that large to check its hash would cost more than optimising it.
GRAPH_CACHE_MAX_BYTES = 1 << 30
#: Graphs up to this size are read into memory, hashed and given to onnxruntime as bytes
#: (which it keeps for the session's life); larger ones are hashed, then opened by path.
IN_MEMORY_MAX_BYTES = 16 << 20
_GRAPHS = "graphs"
# Stat stamps of graphs this process hashed successfully (for verify="stat").
_SEEN: dict[str, tuple[int, int, int, int]] = {}
# Graph keys by (onnxruntime version, level, providers), and the file name last found
# per (folder, key): a warm load then opens the file without listing the folder.
_KEYS: dict[tuple[str, str, tuple[str, ...]], str] = {}
_NAMES: dict[tuple[Path, str], str] = {}


class GraphMiss(Exception):  # noqa: N818 - an internal signal, not an error users see
    """No usable cached graph (asked for with ``graph_only``): open the model itself."""


def graph_cache_enabled(flag: bool | None) -> bool:
    """``flag`` when given, else ``MODELPORT_GRAPH_CACHE`` (``0``/``false``/``no``/``off``
    turn it off), else on."""
    if flag is not None:
        return bool(flag)
    value = os.environ.get("MODELPORT_GRAPH_CACHE", "").strip().lower()
    return value not in ("0", "false", "no", "off")


def options_allow_graphs(options: dict[str, Any]) -> bool:
    """False when a load's session options rule the cache out: ``graph_cache=False`` (or
    the environment), ``optimization="disable"`` (nothing to cache) or an explicit
    ``optimized_model_path`` (the caller keeps the graph itself)."""
    return (
        graph_cache_enabled(options.get("graph_cache"))
        and options.get("optimization") != "disable"
        and options.get("optimized_model_path") is None
    )


@functools.cache
def _machine() -> str:
    """What a CPU-optimised graph depends on besides onnxruntime: the architecture and
    the instruction-set flags (layout transforms pick block sizes from AVX2/AVX-512)."""
    parts = [platform.system(), platform.machine()]
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.startswith(("flags", "Features")):
                    parts.append(" ".join(sorted(line.split(":", 1)[1].split())))
                    break
    except OSError:
        parts.append(platform.processor())
    return "\n".join(parts)


@functools.cache
def _build(ort_version: str) -> str:
    import onnxruntime as ort

    info = getattr(ort, "get_build_info", None)
    return f"{ort_version}\n{info() if callable(info) else ''}"


class GraphCache:
    """Optimised graphs of one model (by sha256) under one cache root."""

    def __init__(self, root: Path, model_sha256: str) -> None:
        self.folder = Path(f"{root}{os.sep}{_GRAPHS}{os.sep}{model_sha256}")

    @staticmethod
    def key(ort_version: str, level: str, providers: tuple[str, ...]) -> str:
        """Names what a graph depends on besides the model (computed once per process)."""
        known = _KEYS.get((ort_version, level, providers))
        if known is None:
            text = json.dumps([_build(ort_version), _machine(), level, list(providers)])
            known = _KEYS[(ort_version, level, providers)] = hashlib.sha256(
                text.encode()
            ).hexdigest()[:24]
        return known

    def find(self, key: str, verify: str = "full") -> tuple[Path, bytes | None] | None:
        """The cached graph for ``key`` if it hashes to the sha256 in its name, with its
        bytes when small enough to hand to onnxruntime directly (read once, hashed, parsed:
        no second read, and nothing can change between the check and the parse). A file
        that does not hash right is removed (with a warning) so it gets rebuilt.

        ``verify="stat"`` skips the hash when the file's stat stamp is the one this
        process saw when it last hashed the file.
        """
        known = _NAMES.get((self.folder, key))
        if known is not None:
            found = self._check(self.folder / known, key, verify)
            if found is not None:
                return found
        try:
            names = os.listdir(self.folder)
        except OSError:
            return None
        for name in names:
            if name != known and name.startswith(f"{key}-") and name.endswith(".onnx"):
                found = self._check(self.folder / name, key, verify)
                if found is not None:
                    _NAMES[(self.folder, key)] = name
                    return found
        return None

    def _check(self, path: Path, key: str, verify: str) -> tuple[Path, bytes | None] | None:
        """(path, bytes or None) when the graph at ``path`` is intact, else None."""
        expected = path.name[len(key) + 1 : -len(".onnx")]
        data: bytes | None = None
        try:
            with path.open("rb") as fh:
                st = os.fstat(fh.fileno())
                stamp = (st.st_size, st.st_ino, st.st_mtime_ns, st.st_ctime_ns)
                if verify == "stat" and _SEEN.get(str(path)) == stamp:
                    return path, None
                if st.st_size <= IN_MEMORY_MAX_BYTES:
                    data = fh.read()
                    actual = hashlib.sha256(data).hexdigest()
                else:
                    actual = hashlib.file_digest(fh, "sha256").hexdigest()
        except OSError:
            return None
        if actual == expected:
            remember(_SEEN, str(path), stamp)
            return path, data
        warnings.warn(
            f"cached optimised graph {path} is corrupt (sha256 {actual}); it is removed "
            "and will be rebuilt from the verified model",
            RuntimeWarning,
            stacklevel=6,
        )
        self.drop(path)
        return None

    def scratch(self, key: str) -> Path:
        """A fresh path for onnxruntime to write a new optimised graph to."""
        import tempfile

        self.folder.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f".{key}-", suffix=".part", dir=self.folder)
        os.close(fd)
        return Path(name)

    def publish(self, scratch: Path, key: str) -> Path | None:
        """Move a graph onnxruntime just wrote into place under its own sha256."""
        try:
            if scratch.stat().st_size == 0:
                return None  # onnxruntime wrote nothing
            target = self.folder / f"{key}-{file_sha256(scratch)}.onnx"
            os.replace(scratch, target)
            _NAMES[(self.folder, key)] = target.name
        except OSError:
            return None
        finally:
            scratch.unlink(missing_ok=True)
        return target

    def refuse(self, key: str) -> None:
        """Remember that onnxruntime could not open the graph it saved for ``key``
        (an onnxruntime defect, not damage): later loads open the model itself and
        save nothing, instead of saving and failing on every load."""
        with contextlib.suppress(OSError):
            self.folder.mkdir(parents=True, exist_ok=True)
            (self.folder / f"{key}.refused").touch()

    def refused(self, key: str) -> bool:
        return (self.folder / f"{key}.refused").exists()

    @staticmethod
    def drop(path: Path) -> None:
        with contextlib.suppress(OSError):
            path.unlink()

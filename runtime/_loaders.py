"""Loaders registered by artifact format, and ``load_file`` for local artifacts.

A loader is a class ``Loader(path, *, device, fallback, **options)`` returning an object
that satisfies :class:`runtime._model.Backend`. Built-in loaders are named by import
path so their library (onnxruntime, pypmml, tensorflow) is imported only when a model
of that format loads; third parties add theirs through the ``modelport.loaders``
entry-point group or :func:`register_loader`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from runtime._cache import unpack_tar
from runtime._documents import FORMAT_PREFERENCE
from runtime._files import file_sha256, is_tar
from runtime._graphs import GraphMiss
from runtime._model import Backend, Model, ModelInfo
from runtime._signature import Signature
from runtime.errors import SignatureError, UnsupportedFormat
from runtime.plugins import PluginTable

__all__ = [
    "FORMAT_PREFERENCE",
    "LOADERS",
    "detect_format",
    "file_sha256",
    "get_loader",
    "is_tar",
    "load_file",
    "loaders",
    "open_model",
    "register_loader",
]

_BUILTIN: dict[str, str] = {
    "onnx": "runtime._onnx:OnnxBackend",
    "pmml": "runtime._pmml:PmmlBackend",
    "savedmodel": "runtime._savedmodel:SavedModelBackend",
}
_SUFFIXES = {".onnx": "onnx", ".ort": "onnx", ".pmml": "pmml", ".xml": "pmml"}
#: Loaders by format: the built-ins, then the ``modelport.loaders`` entry points.
LOADERS: PluginTable[str] = PluginTable("loader", "modelport.loaders", _BUILTIN)


def register_loader(fmt: str, target: str) -> None:
    """Register ``"module:Class"`` as the loader of ``fmt``; overwriting is refused
    (:class:`runtime.plugins.RegistrationError`)."""
    LOADERS.register(fmt, target)


def loaders() -> dict[str, str]:
    """Every registered format -> loader import path (built-ins, entry points, registered)."""
    return LOADERS.targets()


def _unknown(fmt: str) -> UnsupportedFormat:
    known = ", ".join(sorted(LOADERS.names()))
    return UnsupportedFormat(f"no loader for format {fmt!r}; available: {known}")


def get_loader(fmt: str) -> Any:
    """The loader class of ``fmt``; :class:`UnsupportedFormat` lists the known formats,
    :class:`runtime.plugins.BrokenPlugin` says why an installed one cannot be used."""
    loader = LOADERS.resolve(fmt)
    if loader is None:
        raise _unknown(fmt)
    return loader


def _dir_format(path: Path) -> str | None:
    if (path / "saved_model.pb").is_file() or (path / "saved_model.pbtxt").is_file():
        return "savedmodel"
    for suffix, fmt in _SUFFIXES.items():
        if any(path.glob(f"*{suffix}")):
            return fmt
    return None


def detect_format(path: Path) -> str:
    """The artifact format of a file or folder, from its name and content."""
    if path.is_dir():
        fmt = _dir_format(path)
    elif path.suffix.lower() in _SUFFIXES:
        fmt = _SUFFIXES[path.suffix.lower()]
    elif is_tar(path):
        fmt = "tar"
    else:
        fmt = _sniff(path)
    if fmt is None:
        raise UnsupportedFormat(
            f"cannot tell the format of {path}: expected an .onnx or .pmml file, a SavedModel "
            "folder, or a tar of one; pass format='onnx'|'pmml'|'savedmodel'"
        )
    return fmt


def _sniff(path: Path) -> str | None:
    with path.open("rb") as fh:
        head = fh.read(256).lstrip()
    if head.startswith(b"<?xml") or head.startswith(b"<PMML"):
        return "pmml"
    return "onnx" if head[:1] == b"\x08" else None  # ModelProto starts with ir_version


def _model_file(folder: Path, fmt: str) -> Path:
    """The file inside a folder that the ``fmt`` loader opens (SavedModel: the folder)."""
    if fmt == "savedmodel":
        return folder
    suffixes = [s for s, f in _SUFFIXES.items() if f == fmt]
    found = sorted(p for s in suffixes for p in folder.glob(f"*{s}"))
    if len(found) != 1:
        what = "no" if not found else f"{len(found)}"
        raise UnsupportedFormat(f"{folder} holds {what} {fmt} files; pass the file itself")
    return found[0]


def open_model(
    path: Path,
    fmt: str,
    *,
    signature: Signature | None = None,
    device: str = "cpu",
    fallback: bool = False,
    batch_size: int | None = None,
    options: dict[str, Any] | None = None,
    meta: dict[str, Any] | None = None,
    cache_root: Path | None = None,
    graph_only: bool = False,
    verify: str = "full",
) -> Model:
    """Build a :class:`Model` from an artifact already on disk (file or folder).

    An ONNX file whose sha256 is in ``meta`` may use the optimised-graph cache under
    ``cache_root`` (default: the cache folder); ``graph_only`` opens only a cached graph
    (checked per ``verify``) and raises :class:`runtime._graphs.GraphMiss` otherwise.
    """
    meta = dict(meta or {})
    extra: dict[str, Any] = {}
    if not graph_only and path.is_dir():  # graph_only: path is a cached blob, a file
        path = _model_file(path, fmt)
    elif fmt == "onnx" and meta.get("sha256"):
        extra = {"sha256": meta["sha256"], "cache_root": cache_root}
        if graph_only:
            extra.update(graph_only=True, verify=verify)
    if graph_only and not extra:
        raise GraphMiss(path)  # only ONNX files have cached graphs
    loader = get_loader(fmt)
    backend: Backend = loader(path, device=device, fallback=fallback, **extra, **(options or {}))
    if signature is not None:
        _check_names(signature, backend.signature, path)
    info = ModelInfo(
        name=meta.get("name"),
        version=meta.get("version"),
        format=fmt,
        sha256=meta.get("sha256"),
        framework=meta.get("framework"),
        path=path,
        origin=meta.get("origin", "file"),
        registry=meta.get("registry"),
        device=getattr(backend, "device", "cpu"),
        providers=tuple(getattr(backend, "providers", ())),
        graph=getattr(backend, "graph", None),
        alias=meta.get("alias"),
        weights=meta.get("weights"),
    )
    return Model(backend, info, signature=signature, batch_size=batch_size)


def _check_names(stored: Signature, actual: Signature, path: Path) -> None:
    if stored.inputs and stored.input_names != actual.input_names:
        raise SignatureError(
            f"the stored signature's inputs ({', '.join(stored.input_names)}) differ from "
            f"the inputs of {path} ({', '.join(actual.input_names)}); the artifact and its "
            "signature do not belong together"
        )


def load_file(
    path: str | Path,
    *,
    format: str | None = None,  # noqa: A002 - the public keyword is 'format'
    signature: Signature | dict[str, Any] | None = None,
    device: str = "cpu",
    fallback: bool = False,
    batch_size: int | None = None,
    **session_options: Any,
) -> Model:
    """Load a local artifact (``.onnx``/``.pmml`` file, SavedModel folder or tar of one).

    ``session_options`` are the backend's knobs; for ONNX: ``threads``,
    ``inter_op_threads``, ``optimization`` (``disable|basic|extended|all``),
    ``graph_cache`` (cache the optimised graph, default on; ``MODELPORT_GRAPH_CACHE=0``
    turns it off) and ``optimized_model_path``. Raises :class:`UnsupportedFormat`,
    :class:`MissingDependency` (naming the pip extra) or :class:`DeviceUnavailable`.

    >>> m = runtime.load_file("model.onnx")   # doctest: +SKIP
    >>> m.predict(x)                          # doctest: +SKIP
    """
    p = Path(path).expanduser()
    if not p.exists():
        raise FileNotFoundError(f"no model file or folder at {p}")
    if isinstance(signature, dict):
        signature = Signature.from_dict(signature)
    fmt = format or detect_format(p)
    meta: dict[str, Any] = {"origin": "file"}
    if p.is_file():
        meta["sha256"] = file_sha256(p)
        if fmt == "tar" or (p.suffix.lower() not in _SUFFIXES and fmt != "pmml" and is_tar(p)):
            p = unpack_tar(p, meta["sha256"])
            fmt = format or detect_format(p)
    if LOADERS.entry(fmt) is None:
        raise _unknown(fmt)
    return open_model(
        p,
        fmt,
        signature=signature,
        device=device,
        fallback=fallback,
        batch_size=batch_size,
        options=session_options,
        meta=meta,
    )

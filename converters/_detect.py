"""Cheap, safe framework detection from an upload's content.

Safe for the API process: nothing from the file is executed, no training framework is
imported. Detection knows containers (``converters._sniff``) and the server's pickle
policy; every file layout is its framework plug-in's own (``sniff``, and ``explain``
for a near miss). Pickles are only *scanned* (their opcodes listed with
``pickletools``), never loaded.
"""

from __future__ import annotations

import bz2
import contextlib
import gzip
import io
import logging
import lzma
import pickletools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from converters._protocol import ServerPolicy
from converters._registry import framework_names, get_framework
from converters._sniff import (
    head,
    is_compressed,
    is_pickle_upload,
    is_zip,
    zip_names,
)
from runtime.errors import InvalidUpload, MissingDependency, UnsupportedFormat, UnsupportedMediaType

__all__ = ["accepted_uploads", "detect_framework", "is_pickle_upload"]

log = logging.getLogger("modelport.detect")

_ALIASES = {
    "scikit-learn": "sklearn",
    "scikit_learn": "sklearn",
    "pytorch": "torch",
    "tf": "tensorflow",
    "hf": "transformers",
    "huggingface": "transformers",
}

_SKOPS_HINT = (
    "Pickle files can run arbitrary code when loaded, so this registry does not accept them. "
    "Save the estimator with skops instead: `import skops.io as sio; "
    "sio.dump(model, 'model.skops')` and upload model.skops "
    "(or ask the operator to enable MODELPORT_ALLOW_PICKLE)."
)

_TORCH_HINT = (
    "A pickled torch nn.Module or state dict (torch.save) cannot be loaded safely. "
    "Export the model instead: `ep = torch.export.export(model.eval(), (example_input,)); "
    "torch.export.save(ep, 'model.pt2')` and upload model.pt2 "
    "(or save TorchScript with `torch.jit.script(model).save('model.pt')`)."
)

_MAX_PICKLE_OPS = 2_000_000


def detect_framework(
    path: Path, filename: str, declared: str | None = None, *, allow_pickle: bool = False
) -> str:
    """Name the framework of the upload at ``path`` (``onnx``, ``sklearn``, ``torch``, ...).

    Unsafe uploads are refused first (pickles unless ``allow_pickle``, pickled torch
    objects, damaged archives); then every registered framework plug-in's ``sniff`` is
    asked in registration order (built-ins, then entry points) and the first to claim
    the file names it. ``filename`` is the name the user gave (its ending is a hint
    only). ``declared``, if given, must agree with the content.

    Raises ``UnsupportedMediaType`` for refused uploads, ``InvalidUpload`` for anything
    no plug-in recognises or a ``declared`` framework that disagrees with the file.

    >>> detect_framework(Path("model.onnx"), "model.onnx")  # doctest: +SKIP
    'onnx'
    """
    want = _normalise_declared(declared)
    policy = ServerPolicy(allow_pickle=allow_pickle)
    path = Path(path)
    _refuse_unsafe(path, filename, policy)
    found = _first_claim(path, filename, policy)
    if want is not None and want != found:
        raise InvalidUpload(
            f"the upload {filename!r} was declared as framework {want!r} but its content is "
            f"a {found!r} model; drop the framework field or upload a {want} file. "
            + accepted_uploads()
        )
    return found


def _normalise_declared(declared: str | None) -> str | None:
    if declared is None or not declared.strip():
        return None
    name = declared.strip().lower()
    name = _ALIASES.get(name, name)
    known = framework_names()
    if name not in known:
        raise InvalidUpload(
            f"unknown framework {declared!r}; use one of {', '.join(known)} "
            "or leave it out to detect it from the file"
        )
    return name


def _plugins() -> Iterator[tuple[str, Any]]:
    """The registered framework plug-ins in detection order, each imported when its
    turn comes; one that cannot be imported claims nothing (logged)."""
    for name in framework_names():
        try:
            plugin = get_framework(name)
        except (MissingDependency, UnsupportedFormat):  # a broken plug-in claims nothing
            log.warning("framework plug-in %r cannot be imported; skipped", name, exc_info=True)
            continue
        yield name, plugin


def accepted_uploads() -> str:
    """What the registered framework plug-ins accept, in words, in detection order: the
    end of every refusal (each plug-in's ``accepts``, else its name and file endings)."""
    parts = [
        getattr(plugin, "accepts", "") or f"{name} ({', '.join(plugin.extensions)})"
        for name, plugin in _plugins()
    ]
    return f"Accepted uploads: {'; '.join(parts)}."


def _first_claim(path: Path, filename: str, policy: ServerPolicy) -> str:
    asked = []
    for name, plugin in _plugins():
        if plugin.sniff(path, filename, policy):
            return name
        asked.append(plugin)
    raise _unrecognised(path, filename, asked)


def _refuse_unsafe(path: Path, filename: str, policy: ServerPolicy) -> None:
    """Refuse what no plug-in may load: damaged archives, and pickles (unless the server
    allows them; a pickle of torch objects never). Layouts inside a valid archive are
    each plug-in's own to judge (torch's refuses its pickle archives)."""
    with contextlib.suppress(OSError):  # an unreadable upload is refused by head()
        if path.stat().st_size == 0:
            raise InvalidUpload(f"the upload {filename!r} is empty. {accepted_uploads()}")
    first = head(path, filename)
    if is_zip(first):
        zip_names(path, filename)  # a damaged zip is refused here
        return
    if is_pickle_upload(path, filename):
        _check_pickle(path, filename, policy, first if is_compressed(first) else None)


def _unrecognised(path: Path, filename: str, plugins: list[Any]) -> InvalidUpload:
    """Why no plug-in claimed the upload: a plug-in that recognises a near miss of its
    own format (``explain``) says what is wrong; else the container is named."""
    first = head(path, filename)
    if is_zip(first):
        return InvalidUpload(
            f"{filename!r} is a zip archive of no known model format. {accepted_uploads()}"
        )
    for plugin in plugins:
        explain = getattr(plugin, "explain", None)
        reason = explain(path, filename) if explain is not None else None
        if reason:
            return InvalidUpload(f"{filename!r} {reason} {accepted_uploads()}")
    if is_compressed(first):
        return InvalidUpload(
            f"{filename!r} is a compressed file of no known model format. {accepted_uploads()}"
        )
    return InvalidUpload(f"the format of {filename!r} is not recognised. {accepted_uploads()}")


# --- pickles -----------------------------------------------------------------


def _pickle_globals(data: bytes) -> set[str]:
    """Module names a pickle stream references (scanned, never executed).

    Several pickles may follow each other (torch's legacy format writes five).
    """
    modules: set[str] = set()
    stream = io.BytesIO(data)
    count = 0
    for _ in range(16):
        strings: list[str] = []
        try:
            for op, arg, _pos in pickletools.genops(stream):
                count += 1
                if count > _MAX_PICKLE_OPS:
                    return modules
                if op.name in ("SHORT_BINUNICODE", "BINUNICODE", "UNICODE", "BINUNICODE8"):
                    strings.append(str(arg))
                elif op.name in ("GLOBAL", "INST") and isinstance(arg, str):
                    modules.add(arg.split(" ", 1)[0])
                elif op.name == "STACK_GLOBAL" and len(strings) >= 2:
                    modules.add(strings[-2])
        except Exception:  # noqa: BLE001 - truncated or joblib-framed data: keep what was seen
            break
        if stream.tell() >= len(data):
            break
    return modules


def _read_pickle_bytes(path: Path, compressed: bytes | None) -> bytes:
    limit = 256 << 20
    if compressed is None:
        with path.open("rb") as fh:
            raw = fh.read(limit)
        if raw[:1] in (b"x", b"Z"):  # joblib zlib stream
            import zlib

            try:
                start = raw.index(b"x") if raw[:2] == b"ZF" else 0
                return zlib.decompressobj().decompress(raw[start:], limit)
            except (zlib.error, ValueError):
                return raw
        return raw
    opener: Any = {b"\x1f\x8b": gzip.open, b"BZ": bz2.open, b"\xfd7": lzma.open}[compressed[:2]]
    try:
        with opener(path, "rb") as fh:
            data: bytes = fh.read(limit)
            return data
    except (OSError, EOFError, lzma.LZMAError) as exc:
        raise InvalidUpload(f"cannot decompress the upload: {exc}") from exc


def _check_pickle(
    path: Path, filename: str, policy: ServerPolicy, compressed: bytes | None = None
) -> None:
    modules = _pickle_globals(_read_pickle_bytes(path, compressed))
    if any(m == "torch" or m.startswith("torch.") for m in modules):
        raise UnsupportedMediaType(f"{filename!r} is a pickled torch object. {_TORCH_HINT}")
    if not policy.allow_pickle:
        raise UnsupportedMediaType(f"{filename!r} is a pickle/joblib file. {_SKOPS_HINT}")

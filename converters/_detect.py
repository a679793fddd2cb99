"""Cheap, safe framework detection from an upload's content.

Safe for the API process: nothing from the file is executed, no training framework is
imported. Pickles are only *scanned* (their opcodes listed with ``pickletools``), never
loaded; archives are only listed; ONNX is parsed as a protobuf message.
"""

from __future__ import annotations

import bz2
import gzip
import io
import logging
import lzma
import pickletools
import tarfile
import zipfile
from pathlib import Path
from typing import Any

from converters._protocol import ServerPolicy
from converters._registry import framework_names, get_framework
from runtime.errors import InvalidUpload, MissingDependency, UnsupportedFormat, UnsupportedMediaType

__all__ = ["ACCEPTED", "detect_framework", "is_onnx", "is_pickle_upload"]

log = logging.getLogger("modelport.detect")

ACCEPTED = (
    "Accepted uploads: ONNX (.onnx); scikit-learn (.skops from skops.io.dump; "
    ".pkl/.joblib only when the server allows pickles); PyTorch (.pt2 from "
    "torch.export.save, TorchScript .pt from torch.jit.save); Keras (.keras, legacy .h5); "
    "TensorFlow SavedModel folder packed as .zip, .tar.gz or .tgz; XGBoost (.json/.ubj from "
    "Booster.save_model); LightGBM (.txt from Booster.save_model); CatBoost (.cbm); "
    "Hugging Face transformers checkpoint folder (config.json, model.safetensors and "
    "tokenizer files) packed as .zip, .tar.gz or .tgz."
)

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

_PICKLE_EXTS = (".pkl", ".pickle", ".joblib")
_MAX_ARCHIVE_MEMBERS = 100_000
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
            f"a {found!r} model; drop the framework field or upload a {want} file. {ACCEPTED}"
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


def _first_claim(path: Path, filename: str, policy: ServerPolicy) -> str:
    for name in framework_names():
        try:
            plugin = get_framework(name)
        except (MissingDependency, UnsupportedFormat):  # a broken plug-in claims nothing
            log.warning("framework plug-in %r cannot be imported; skipped", name, exc_info=True)
            continue
        if plugin.sniff(path, filename, policy):
            return name
    raise _unrecognised(path, filename)


def _head(path: Path, filename: str) -> bytes:
    try:
        with path.open("rb") as fh:
            head = fh.read(16)
    except OSError as exc:
        raise InvalidUpload(f"cannot read the upload {filename!r}: {exc}") from exc
    if not head:
        raise InvalidUpload(f"the upload {filename!r} is empty. {ACCEPTED}")
    return head


def _is_zip(head: bytes) -> bool:
    return head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06")


def _is_compressed(head: bytes) -> bool:
    return head[:2] == b"\x1f\x8b" or head[:3] == b"BZh" or head[:6] == b"\xfd7zXZ\x00"


def _refuse_unsafe(path: Path, filename: str, policy: ServerPolicy) -> None:
    """Refuse what no plug-in may load: pickles (torch's always), damaged archives."""
    head = _head(path, filename)
    if _is_zip(head):
        _zip_names(path, filename)  # a damaged zip is refused here
        from converters._torch import torch_kind

        if torch_kind(path, filename) == "pickle":
            raise UnsupportedMediaType(
                f"{filename!r} is a torch.save pickle archive. {_TORCH_HINT}"
            )
        return
    if is_pickle_upload(path, filename):
        _check_pickle(path, filename, policy, head if _is_compressed(head) else None)


def is_pickle_upload(path: Path, filename: str) -> bool:
    """A pickle or joblib stream (plain or compressed), judged from content and ending."""
    head = _head(path, filename)
    lower = filename.lower()
    if _is_zip(head):
        return False
    if _is_compressed(head):
        return _tar_names(path) is None and lower.endswith(_PICKLE_EXTS + (".gz", ".bz2", ".xz"))
    return _looks_like_pickle(head) or (lower.endswith(_PICKLE_EXTS) and head[:1] in (b"x", b"Z"))


def skops_upload(path: Path, filename: str) -> bool:
    """A skops archive (a zip with ``schema.json``); its types are checked on the way."""
    if not _is_zip(_head(path, filename)):
        return False
    names = [n for n in _zip_names(path, filename) if not n.startswith("__MACOSX/")]
    if "schema.json" not in names:
        return False
    from converters._sklearn_applicable import check_inference
    from converters._skops_trust import check_types

    check_types(path)  # refuse non-allowed types before any version exists
    check_inference(path, filename)  # and estimators that cannot infer on new rows
    return True


def _unrecognised(path: Path, filename: str) -> InvalidUpload:
    """Why no plug-in claimed the upload, as precisely as the container allows."""
    head = _head(path, filename)
    if _is_zip(head):
        return InvalidUpload(
            f"{filename!r} is a zip archive of no known model format (no skops schema.json, "
            f"Keras config.json + model.weights.h5, saved_model.pb, or torch archive). "
            f"{ACCEPTED}"
        )
    if head.startswith(b"\x89HDF\r\n\x1a\n"):
        return InvalidUpload(
            f"{filename!r} is an HDF5 file without a Keras model_config (weights only?). "
            f"Save the whole model with model.save('model.keras'). {ACCEPTED}"
        )
    if _is_compressed(head):
        if _tar_names(path) is not None:
            return InvalidUpload(
                f"{filename!r} is a tar archive without saved_model.pb at its root or inside "
                f"one top folder. {ACCEPTED}"
            )
        return InvalidUpload(
            f"{filename!r} is a compressed file of no known model format. {ACCEPTED}"
        )
    if filename.lower().endswith(".onnx"):
        return InvalidUpload(
            f"{filename!r} is not a valid ONNX model: it does not parse as an ONNX ModelProto "
            f"with a graph. Re-export it (onnx.save) and upload again. {ACCEPTED}"
        )
    return InvalidUpload(f"the format of {filename!r} is not recognised. {ACCEPTED}")


# --- zip -------------------------------------------------------------------


def _zip_names(path: Path, filename: str) -> list[str]:
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise InvalidUpload(f"{filename!r} is a damaged zip archive: {exc}. {ACCEPTED}") from exc
    if len(infos) > _MAX_ARCHIVE_MEMBERS:
        raise InvalidUpload(
            f"{filename!r} has {len(infos)} members, more than {_MAX_ARCHIVE_MEMBERS}"
        )
    return [i.filename for i in infos]


# --- hdf5 / compressed / pickle ---------------------------------------------


def _tar_names(path: Path) -> list[str] | None:
    try:
        with tarfile.open(path, "r:*") as tf:
            names: list[str] = []
            for member in tf:
                names.append(member.name)
                if len(names) > _MAX_ARCHIVE_MEMBERS:
                    break
            return names
    except (tarfile.TarError, OSError, EOFError, ValueError, lzma.LZMAError):
        return None


def _looks_like_pickle(head: bytes) -> bool:
    return len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5


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


# Files up to this size are parsed whole; larger ones (their weights may be GiB) are
# checked by walking the protobuf's field headers, seeking over the payloads.
_ONNX_FULL_PARSE_BYTES = 64 * 1024 * 1024


def is_onnx(path: Path) -> bool:
    """An ONNX ModelProto with a graph that has outputs (large files: header scan)."""
    if path.stat().st_size > _ONNX_FULL_PARSE_BYTES:
        return _onnx_header_scan(path)
    try:
        import onnx
    except ImportError:  # pragma: no cover - onnx ships with the server extra
        return False
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception:  # noqa: BLE001 - any parse failure means "not ONNX"
        return False
    return bool(model.HasField("graph") and model.ir_version > 0 and len(model.graph.output) > 0)


def _read_varint(fh: io.BufferedReader) -> int | None:
    value = shift = 0
    while shift < 64:
        byte = fh.read(1)
        if not byte:
            return None
        value |= (byte[0] & 0x7F) << shift
        if not byte[0] & 0x80:
            return value
        shift += 7
    return None


def _scan_fields(fh: io.BufferedReader, end: int) -> dict[int, list[tuple[int, int, int]]] | None:
    """Walk the protobuf fields in ``[fh.tell(), end)`` without reading payloads.

    Returns field number -> [(wire type, varint value or payload offset, payload length)],
    or None when the bytes are not a well-formed message.
    """
    fields: dict[int, list[tuple[int, int, int]]] = {}
    while fh.tell() < end:
        key = _read_varint(fh)
        if key is None or key >> 3 == 0:
            return None
        number, wire, length = key >> 3, key & 7, 0
        if wire == 0:
            value = _read_varint(fh)
            if value is None:
                return None
        elif wire == 2:
            size = _read_varint(fh)
            value = fh.tell()
            if size is None or value + size > end:
                return None
            length = size
            fh.seek(size, io.SEEK_CUR)
        elif wire in (1, 5):
            value, length = fh.tell(), 8 if wire == 1 else 4
            fh.seek(length, io.SEEK_CUR)
        else:
            return None
        fields.setdefault(number, []).append((wire, value, length))
    return fields if fh.tell() == end else None


def _onnx_header_scan(path: Path) -> bool:
    """A ModelProto with ir_version (field 1) > 0 and a graph (7) with an output (12)."""
    with path.open("rb") as fh:
        model = _scan_fields(fh, path.stat().st_size)
        if not model or not model.get(1) or not model.get(7):
            return False
        ir_wire, ir_version, _ = model[1][0]
        graph_wire, graph_at, graph_len = model[7][0]
        if ir_wire != 0 or ir_version <= 0 or graph_wire != 2:
            return False
        fh.seek(graph_at)
        graph = _scan_fields(fh, graph_at + graph_len)
        return bool(graph and graph.get(12))

"""ONNX uploads: deep checks, signature extraction, and the pass-through artifact.

``onnx_signature`` is shared with every converter that writes ONNX.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO, ClassVar

import numpy as np

from converters._base import NO_PICKLES, ConversionOutput, OptionSpec, Sample, Tolerance
from converters._protocol import ServerPolicy
from converters._registry import import_optional
from converters._samples import generate_inputs
from runtime import Signature, TensorSpec
from runtime.errors import ConversionError, InvalidUpload

__all__ = [
    "OnnxFramework",
    "OnnxPassthrough",
    "OnnxSource",
    "check_external_data",
    "external_locations",
    "library_versions",
    "onnx_signature",
    "rename_value",
    "write_onnx",
]

MEDIA_TYPE = "application/onnx"


def _onnx() -> Any:
    return import_optional("onnx", extra="server")


def _elem_dtype(elem_type: int) -> str:
    onnx = _onnx()
    if elem_type == onnx.TensorProto.STRING:
        return "str"
    if elem_type == onnx.TensorProto.UNDEFINED:
        return "undefined"
    try:
        return str(np.dtype(onnx.helper.tensor_dtype_to_np_dtype(elem_type)))
    except (KeyError, TypeError, ValueError):
        return str(onnx.TensorProto.DataType.Name(elem_type)).lower()


def _value_spec(value: Any) -> TensorSpec:
    t = value.type
    kind = t.WhichOneof("value")
    if kind != "tensor_type":
        return TensorSpec(value.name, kind or "unknown", None)
    tensor = t.tensor_type
    shape: tuple[int | str | None, ...] | None = None
    if tensor.HasField("shape"):
        dims: list[int | str | None] = []
        for d in tensor.shape.dim:
            if d.HasField("dim_value"):
                dims.append(int(d.dim_value))
            elif d.HasField("dim_param"):
                dims.append(str(d.dim_param))
            else:
                dims.append(None)
        shape = tuple(dims)
    return TensorSpec(value.name, _elem_dtype(tensor.elem_type), shape)


def onnx_signature(model: Any) -> Signature:
    """Inputs (initializers excluded) and outputs of an ``onnx.ModelProto``."""
    graph = model.graph
    weights = {i.name for i in graph.initializer}
    return Signature(
        inputs=tuple(_value_spec(v) for v in graph.input if v.name not in weights),
        outputs=tuple(_value_spec(v) for v in graph.output),
    )


def _external_tensors(model: Any) -> list[Any]:
    onnx = _onnx()
    tensors = list(model.graph.initializer)
    for node in model.graph.node:
        for attr in node.attribute:
            if attr.HasField("t"):
                tensors.append(attr.t)
    return [t for t in tensors if t.data_location == onnx.TensorProto.EXTERNAL]


def external_locations(model: Any) -> list[str]:
    """The relative file names holding a model's external data (sorted, unique)."""
    found = {
        e.value for t in _external_tensors(model) for e in t.external_data if e.key == "location"
    }
    return sorted(found)


def check_external_data(model: Any, model_dir: Path) -> None:
    """Refuse external-data locations that are absolute or leave ``model_dir``."""
    root = model_dir.resolve()
    for tensor in _external_tensors(model):
        location = next((e.value for e in tensor.external_data if e.key == "location"), "")
        pure = PurePosixPath(location.replace("\\", "/"))
        target = (root / location).resolve()
        if (
            not location
            or pure.is_absolute()
            or ".." in pure.parts
            or ":" in location
            or not target.is_relative_to(root)
        ):
            raise InvalidUpload(
                f"tensor {tensor.name!r} keeps its data at {location!r}, outside the model's "
                "folder; external data must be a relative path next to the model"
            )


def rename_value(graph: Any, old: str, new: str, *, inputs: bool = True) -> None:
    """Rename the value ``old`` to ``new`` wherever ``graph`` produces, consumes or
    declares it (its graph inputs too, unless ``inputs`` is False)."""
    if old == new:
        return
    for node in graph.node:
        for i, name in enumerate(node.output):
            if name == old:
                node.output[i] = new
        for i, name in enumerate(node.input):
            if name == old:
                node.input[i] = new
    declared = [*graph.input] if inputs else []
    for value in [*declared, *graph.output, *graph.value_info]:
        if value.name == old:
            value.name = new


def library_versions(*names: str) -> dict[str, str]:
    """Installed versions of the named distributions (missing ones left out)."""
    from importlib import metadata

    out: dict[str, str] = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def write_onnx(
    model: Any, out_dir: Path, converter: str, libraries: tuple[str, ...], **extra: Any
) -> ConversionOutput:
    """Check a converter's graph and write it as ``out_dir/model.onnx``.

    The artifact's signature is read back from the graph; ``extra`` (notes, say) joins the
    converter record next to the library versions and opsets.
    """
    onnx = _onnx()
    try:
        onnx.checker.check_model(model)
    except Exception as exc:  # noqa: BLE001 - checker errors vary
        raise ConversionError(f"{converter} wrote an invalid ONNX graph: {exc}") from exc
    out_dir.mkdir(parents=True, exist_ok=True)
    dest = out_dir / "model.onnx"
    onnx.save(model, str(dest))
    opsets = {o.domain or "ai.onnx": int(o.version) for o in model.opset_import}
    return ConversionOutput(
        path=dest,
        media_type=MEDIA_TYPE,
        signature=onnx_signature(model),
        converter={
            "name": converter,
            "versions": library_versions(*libraries, "onnx", "onnxruntime"),
            "opset": opsets.get("ai.onnx"),
            "opsets": opsets,
            **extra,
        },
    )


class OnnxSource:
    """An uploaded ONNX model, run with onnxruntime as the reference."""

    framework = "onnx"

    def __init__(self, path: Path, model: Any) -> None:
        self.path = path
        self.native = model
        self.signature = onnx_signature(model)
        self.opset = {o.domain or "ai.onnx": int(o.version) for o in model.opset_import}
        self._session: Any = None

    def _sess(self) -> Any:
        if self._session is None:
            import onnxruntime as ort

            opts = ort.SessionOptions()
            opts.log_severity_level = 3
            self._session = ort.InferenceSession(
                str(self.path), opts, providers=["CPUExecutionProvider"]
            )
        return self._session

    def predict(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        names = self.signature.output_names
        feeds = {spec.name: inputs[spec.name] for spec in self.signature.inputs}
        return dict(zip(names, self._sess().run(names, feeds), strict=True))

    def generate_inputs(self, rows: int, seed: int = 0) -> dict[str, np.ndarray]:
        return generate_inputs(self.signature, rows, seed)


class OnnxFramework:
    """``.onnx`` uploads: parse, full checker pass, safe external data, signature."""

    name: ClassVar[str] = "onnx"
    extensions: ClassVar[tuple[str, ...]] = (".onnx",)
    accepts: ClassVar[str] = "ONNX (.onnx)"

    options: ClassVar[Mapping[str, OptionSpec]] = {}

    def sniff(self, path: Path, filename: str, policy: ServerPolicy = NO_PICKLES) -> bool:
        return is_onnx(path)

    def explain(self, path: Path, filename: str) -> str | None:
        """Why a file named ``.onnx`` that ``sniff`` refused is not one."""
        if not filename.lower().endswith(".onnx"):
            return None
        return (
            "is not a valid ONNX model: it does not parse as an ONNX ModelProto with a "
            "graph. Re-export it (onnx.save) and upload again."
        )

    def load(
        self, path: Path, filename: str, options: Mapping[str, Any], policy: ServerPolicy
    ) -> OnnxSource:
        onnx = _onnx()
        try:
            model = onnx.load(str(path), load_external_data=False)
        except Exception as exc:  # noqa: BLE001 - protobuf raises several types
            raise InvalidUpload(f"{filename!r} does not parse as an ONNX model: {exc}") from exc
        if not model.HasField("graph") or not model.graph.output:
            raise InvalidUpload(f"{filename!r} is an ONNX file without a graph or outputs")
        check_external_data(model, path.parent)
        try:
            onnx.checker.check_model(str(path), full_check=True)
        except Exception as exc:  # noqa: BLE001 - checker/shape-inference errors vary
            raise InvalidUpload(f"{filename!r} fails the ONNX checker: {exc}") from exc
        return OnnxSource(path, model)


class OnnxPassthrough:
    """The ``onnx`` artifact of an ONNX upload: the file as given, proven to run."""

    framework: ClassVar[str] = "onnx"
    target: ClassVar[str] = "onnx"
    tolerance: ClassVar[Tolerance] = Tolerance(atol=1e-5, rtol=1e-4)

    def applies(self, source: Any) -> str | None:
        return None

    def convert(self, source: Any, sample: Sample, out_dir: Path) -> ConversionOutput:
        if not isinstance(source, OnnxSource):
            raise ConversionError("the ONNX pass-through only takes ONNX uploads")
        out_dir.mkdir(parents=True, exist_ok=True)
        dest = out_dir / "model.onnx"
        shutil.copyfile(source.path, dest)
        # external weight files travel with the model: the artifact becomes the folder
        # (the registry stores it as a deterministic tar)
        locations = external_locations(source.native)
        for location in locations:
            target = out_dir / location
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source.path.parent / location, target)
        opset = source.opset.get("ai.onnx")
        return ConversionOutput(
            path=out_dir if locations else dest,
            media_type="application/x-tar" if locations else MEDIA_TYPE,
            signature=source.signature,
            converter={
                "name": "onnx-passthrough",
                "versions": library_versions("onnx", "onnxruntime"),
                "opset": opset,
            },
        )


# --- sniffing: is the upload an ONNX model? ---------------------------------

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


def _read_varint(fh: BinaryIO) -> int | None:
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


def _scan_fields(fh: BinaryIO, end: int) -> dict[int, list[tuple[int, int, int]]] | None:
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
            fh.seek(size, os.SEEK_CUR)
        elif wire in (1, 5):
            value, length = fh.tell(), 8 if wire == 1 else 4
            fh.seek(length, os.SEEK_CUR)
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

"""ONNX uploads: deep checks, signature extraction, and the pass-through artifact.

``onnx_signature`` is shared with every converter that writes ONNX.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Any, ClassVar

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

    options: ClassVar[Mapping[str, OptionSpec]] = {}

    def sniff(self, path: Path, filename: str, policy: ServerPolicy = NO_PICKLES) -> bool:
        from converters._detect import is_onnx

        return is_onnx(path)

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

"""Export a loaded PyTorch program to one ONNX artifact.

``torch.onnx.export(dynamo=True)`` first; the TorchScript-based exporter
(``dynamo=False``) when that fails or the upload is TorchScript. The exported graph
is then normalised: inputs, outputs and symbolic dimensions get the source model's
names (``features``, ``batch``) instead of the exporter's (``linear_9``, ``s97``), and
weights are inlined into one file unless the model is large (then the artifact is a
folder with ``model.onnx`` + ``model.onnx.data``).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from converters._base import ConversionOutput
from converters._onnx import onnx_signature
from runtime import Signature, TensorSpec
from runtime.errors import ConversionError

__all__ = ["INLINE_LIMIT_BYTES", "export_onnx", "finish_onnx"]

INLINE_LIMIT_BYTES = 100 * 1024 * 1024  # larger models keep their weights in model.onnx.data


def export_onnx(source: Any, out_dir: Path) -> ConversionOutput:
    """Write ``out_dir/model.onnx`` (or the folder ``out_dir/onnx``) for a TorchSource."""
    import torch

    out_dir.mkdir(parents=True, exist_ok=True)
    notes: list[str] = []
    with tempfile.TemporaryDirectory(dir=out_dir, prefix=".export-") as tmp:
        raw = Path(tmp) / "model.onnx"
        path = "torchscript"
        program = source.native
        if source.kind == "export" and source.static_batch is not None:
            program = _dynamic_batch_program(source)
        if source.kind == "export":
            try:
                _export_dynamo(program, source, raw)
                path = "dynamo"
            except Exception as exc:  # any exporter failure: try the other exporter
                notes.append(f"dynamo export failed ({type(exc).__name__}: {_short(exc)})")
                shutil.rmtree(tmp, ignore_errors=True)
                Path(tmp).mkdir(exist_ok=True)
        else:
            notes.append("TorchScript upload: dynamo cannot export a ScriptModule")
        if path == "torchscript":
            try:
                _export_torchscript(program, source, raw)
            except Exception as exc:
                reason = "; ".join([*notes, f"TorchScript-based export failed: {_short(exc)}"])
                raise ConversionError(f"PyTorch -> ONNX failed: {reason}") from exc
        wanted = source.signature
        if source.static_batch is not None:
            wanted = _with_batch(source.signature, source.static_batch)
            notes.append(
                f"the program was exported with a fixed batch of {source.static_batch}; "
                "re-exported with a dynamic batch and checked against the original"
            )
        artifact, signature, opset = finish_onnx(raw, wanted, out_dir)
    info = {
        "name": "torch.onnx.export",
        "versions": _versions(torch.__version__),
        "opset": opset,
        "exporter": path,
        "notes": notes,
    }
    media = "application/onnx" if artifact.is_file() else "application/x-tar"
    return ConversionOutput(path=artifact, media_type=media, signature=signature, converter=info)


def _short(exc: BaseException, limit: int = 300) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _versions(torch_version: str) -> dict[str, str]:
    import onnx

    versions = {"torch": torch_version, "onnx": onnx.__version__}
    try:
        import onnxscript

        versions["onnxscript"] = onnxscript.__version__
    except ImportError:  # pragma: no cover - only the TorchScript exporter then
        pass
    return versions


def _dynamic_axes(signature: Signature) -> dict[str, dict[int, str]]:
    axes: dict[str, dict[int, str]] = {}
    for spec in (*signature.inputs, *signature.outputs):
        named = {i: d for i, d in enumerate(spec.shape or ()) if isinstance(d, str)}
        if named:
            axes[spec.name] = named
    return axes


def _fixed(raw: Path) -> bool:
    """True when the exported graph's first input has a fixed leading dim."""
    import onnx

    model = onnx.load(str(raw), load_external_data=False)
    inits = {t.name for t in model.graph.initializer}
    first = next(v for v in model.graph.input if v.name not in inits)
    dims = first.type.tensor_type.shape.dim
    return bool(dims) and dims[0].HasField("dim_value")


def _with_batch(signature: Signature, size: int) -> Signature:
    def fix(spec: TensorSpec) -> TensorSpec:
        shape = spec.shape
        if shape and shape[0] == size:
            shape = ("batch", *shape[1:])
        return TensorSpec(spec.name, spec.dtype, shape)

    return Signature(
        tuple(fix(s) for s in signature.inputs), tuple(fix(s) for s in signature.outputs)
    )


def _dynamic_batch_program(source: Any) -> Any:
    """Re-export a fixed-batch program with a dynamic leading dim, proven on another batch.

    Raises ``ConversionError`` when the graph bakes the batch size in (a ``view(2, 64)``):
    such a program cannot become a dynamic-batch ONNX model.
    """
    import numpy as np
    import torch

    size = int(source.static_batch)
    args = tuple(torch.from_numpy(source.example[n].copy()) for n in source.signature.input_names)
    dims = tuple({0: torch.export.Dim.AUTO} for _ in args)
    probe = source.generate_inputs(size + 1, seed=1)
    try:
        program = torch.export.export(source.native.module(), args, dynamic_shapes=dims)
        with torch.no_grad():
            got = program.module()(*[torch.from_numpy(probe[n]) for n in probe])
        want = source.predict(probe)
        for value, ref in zip(_flat(got), want.values(), strict=True):
            np.testing.assert_allclose(value, ref, rtol=1e-4, atol=1e-5)
    except Exception as exc:
        raise ConversionError(
            f"the program was exported with a fixed batch of {size} and its graph depends on "
            f"that size ({_short(exc, 160)}); export it again with "
            "dynamic_shapes={'<input>': {0: torch.export.Dim('batch')}}"
        ) from exc
    return program


def _flat(result: Any) -> list[Any]:
    import torch

    leaves, _ = torch.utils._pytree.tree_flatten(result)
    return [leaf.detach().numpy() for leaf in leaves]


def _export_dynamo(program: Any, source: Any, raw: Path) -> None:
    import torch

    torch.onnx.export(
        program,
        (),
        str(raw),
        dynamo=True,
        input_names=source.signature.input_names,
        output_names=source.signature.output_names,
        external_data=True,
        verbose=False,
    )


def _export_torchscript(program: Any, source: Any, raw: Path) -> None:
    import torch

    module = program.module() if source.kind == "export" else program
    args = tuple(torch.from_numpy(source.example[n].copy()) for n in source.signature.input_names)
    torch.onnx.export(
        module,
        args,
        str(raw),
        dynamo=False,
        input_names=source.signature.input_names,
        output_names=source.signature.output_names,
        dynamic_axes=_dynamic_axes(source.signature),
    )


# --- normalising the file ---------------------------------------------------------------


def finish_onnx(raw: Path, wanted: Signature, out_dir: Path) -> tuple[Path, Signature, int]:
    """Rename to the source's names, inline small weights, write under ``out_dir``.

    Returns the artifact path (a file, or a folder for large models), its signature
    and the default-domain opset.
    """
    import onnx

    model = onnx.load(str(raw))  # pulls external data back in
    _rename_values(model, wanted)
    _rename_dims(model, wanted)
    size = sum(len(t.raw_data) for t in model.graph.initializer)
    if size < INLINE_LIMIT_BYTES:
        artifact = out_dir / "model.onnx"
        onnx.save(model, str(artifact))
    else:
        artifact = out_dir / "onnx"
        artifact.mkdir()
        onnx.save(
            model,
            str(artifact / "model.onnx"),
            save_as_external_data=True,
            all_tensors_to_one_file=True,
            location="model.onnx.data",
            size_threshold=0,
        )
    # checked from the path: in memory, protobuf refuses models over 2 GB
    model_file = artifact if artifact.is_file() else artifact / "model.onnx"
    try:
        onnx.checker.check_model(str(model_file))
    except onnx.checker.ValidationError as exc:
        raise ConversionError(f"the exported ONNX model is invalid: {exc}") from exc
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
    return artifact, onnx_signature(model), int(opset)


def _rename_values(model: Any, wanted: Signature) -> None:
    """Graph inputs/outputs take the source's names (by position among the real inputs)."""
    graph = model.graph
    inits = {t.name for t in graph.initializer}
    real_inputs = [v for v in graph.input if v.name not in inits]
    mapping: dict[str, str] = {}
    for values, names in ((real_inputs, wanted.input_names), (graph.output, wanted.output_names)):
        if len(values) != len(names):
            continue
        for value, name in zip(values, names, strict=True):
            if value.name != name:
                mapping[value.name] = name
    if not mapping:
        return
    for value in (*graph.input, *graph.output, *graph.value_info):
        value.name = mapping.get(value.name, value.name)
    for node in graph.node:
        for i, name in enumerate(node.input):
            if name in mapping:
                node.input[i] = mapping[name]
        for i, name in enumerate(node.output):
            if name in mapping:
                node.output[i] = mapping[name]


def _rename_dims(model: Any, wanted: Signature) -> None:
    """Symbolic dims (``s97``, ``unk__0``) take the source's dim names (``batch``)."""
    graph = model.graph
    by_name = {s.name: s for s in (*wanted.inputs, *wanted.outputs)}
    mapping: dict[str, str] = {}
    for value in (*graph.input, *graph.output):
        spec = by_name.get(value.name)
        if spec is None or spec.shape is None:
            continue
        dims = value.type.tensor_type.shape.dim
        if len(dims) != len(spec.shape):
            continue
        for dim, want in zip(dims, spec.shape, strict=True):
            if isinstance(want, str) and dim.dim_param and dim.dim_param != want:
                mapping.setdefault(dim.dim_param, want)
            elif isinstance(want, str) and dim.HasField("dim_value"):
                dim.dim_param = want  # the source says this axis varies
    if not mapping:
        return
    for value in (*graph.input, *graph.output, *graph.value_info):
        for dim in value.type.tensor_type.shape.dim:
            if dim.dim_param in mapping:
                dim.dim_param = mapping[dim.dim_param]

"""PyTorch uploads: ``torch.export`` programs (``.pt2``) and TorchScript (``.pt``).

Pickled ``nn.Module`` objects and state dicts (``torch.save``) are refused without
being opened: unpickling runs arbitrary code, and a state dict has no graph.

torch is imported only inside methods, and ``load`` runs only in the isolated
conversion worker.
"""

from __future__ import annotations

import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from converters._base import NO_PICKLES, ConversionOutput, OptionSpec, Sample, Tolerance
from converters._postprocess import POSTPROCESS_OPTION, PREPROCESS_OPTION
from converters._protocol import ServerPolicy
from converters._torch_onnx import export_onnx
from runtime import Signature, TensorSpec
from runtime.errors import InvalidUpload, UnsupportedMediaType

__all__ = ["TorchFramework", "TorchSource", "TorchToOnnx"]

_EXPORT_HOWTO = (
    "export the model instead: `ep = torch.export.export(model, (example_input,), "
    "dynamic_shapes={'x': {0: torch.export.Dim('batch')}})` then "
    "`torch.export.save(ep, 'model.pt2')` (or save TorchScript with "
    "`torch.jit.script(model).save('model.pt')`)"
)


def torch_kind(path: Path, filename: str) -> str | None:
    """``export``, ``torchscript`` or ``pickle`` from the zip layout; None if not torch."""
    try:
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
    except (OSError, zipfile.BadZipFile):
        names = []
    if names:
        if any(n.endswith("/models/model.json") or n.endswith("/archive_format") for n in names):
            return "export"
        if any("/code/__torch__" in n for n in names) and any(
            n.endswith("constants.pkl") for n in names
        ):
            return "torchscript"
        if any(n.endswith("/data.pkl") for n in names) and any(
            n.endswith("/byteorder") or n.endswith("/version") for n in names
        ):
            return "pickle"
        return None
    # Legacy (pre-1.6) torch.save files are bare pickles; only claim them by name.
    if filename.lower().endswith((".pt", ".pth")):
        with open(path, "rb") as fh:
            if fh.read(1) == b"\x80":
                return "pickle"
    return None


class TorchFramework:
    """Recognises and loads PyTorch uploads."""

    name: ClassVar[str] = "torch"
    extensions: ClassVar[tuple[str, ...]] = (".pt2", ".pt")
    accepts: ClassVar[str] = (
        "PyTorch (.pt2 from torch.export.save, TorchScript .pt from torch.jit.save)"
    )

    options: ClassVar[Mapping[str, OptionSpec]] = {
        "input_names": OptionSpec(list, "a list of names"),
        "input_shapes": OptionSpec(dict, 'an object like {"x": [null, 4]} (null = batch)'),
        "input_dtypes": OptionSpec(dict, 'an object like {"x": "float32"}'),
        "output_names": OptionSpec(list, "a list of names"),
        "dynamic_axes": OptionSpec(dict, 'an object like {"x": {"2": "seq"}}'),
        "postprocess": POSTPROCESS_OPTION,
        "preprocess": PREPROCESS_OPTION,
    }

    def sniff(self, path: Path, filename: str, policy: ServerPolicy = NO_PICKLES) -> bool:
        """A ``.pt2`` program or a TorchScript archive; a ``torch.save`` pickle (an archive,
        or a legacy stream named ``.pt``/``.pth``) is refused here, whatever the server's
        pickle policy: unpickling runs code."""
        kind = torch_kind(path, filename)
        if kind == "pickle":
            raise UnsupportedMediaType(
                f"{filename!r} is a torch.save pickle archive (a pickled nn.Module or state "
                f"dict), refused because unpickling runs code; {_EXPORT_HOWTO}"
            )
        return kind is not None

    def load(
        self, path: Path, filename: str, options: Mapping[str, Any], policy: ServerPolicy
    ) -> TorchSource:
        """Load a ``.pt2`` program or a TorchScript module (worker process only).

        Options for TorchScript (which carries no shapes): ``input_names``,
        ``input_shapes`` (``{name: [null, 4]}``, null = batch), ``input_dtypes``,
        ``output_names``.
        """
        kind = torch_kind(path, filename)
        if kind == "pickle":
            raise UnsupportedMediaType(
                f"{filename!r} is a pickled PyTorch object (torch.save of a module or a "
                f"state dict); it is refused because unpickling runs code. {_EXPORT_HOWTO}"
            )
        if kind is None:
            raise InvalidUpload(
                f"{filename!r} is not a PyTorch program; accepted: a torch.export program "
                "(.pt2) or a TorchScript module (.pt)"
            )
        import torch

        if kind == "export":
            try:
                program = torch.export.load(str(path))
            except Exception as exc:
                raise InvalidUpload(
                    f"{filename!r} could not be loaded with torch.export.load: {exc}"
                ) from exc
            return _from_program(program)
        try:
            module = torch.jit.load(str(path), map_location="cpu")  # type: ignore[no-untyped-call]
        except Exception as exc:
            raise InvalidUpload(
                f"{filename!r} could not be loaded with torch.jit.load: {exc}"
            ) from exc
        module.eval()
        return _from_script(module, options)


# --- the loaded model ------------------------------------------------------------------


class TorchSource:
    """A loaded PyTorch program: runs on named numpy inputs.

    ``kind`` is ``export`` (``native`` is the ``ExportedProgram``) or ``torchscript``
    (``native`` is the ``ScriptModule``). ``example`` holds one example input per
    name, used for shapes that are neither the batch nor fixed.
    """

    framework = "torch"

    def __init__(
        self,
        kind: str,
        native: Any,
        signature: Signature,
        example: dict[str, np.ndarray],
        ranges: dict[str, tuple[int, int]],
    ) -> None:
        self.kind = kind
        self.native = native
        self.signature = signature
        self.example = example
        self.ranges = ranges  # dim name -> (min, max) allowed by the program
        self._callable = native.module() if kind == "export" else native
        self.static_batch = _static_batch(signature) if kind == "export" else None
        self.lineage: dict[str, Any] = {
            "torch_format": "torch.export" if kind == "export" else "torchscript"
        }
        if self.static_batch is not None:
            self.lineage["static_batch"] = self.static_batch

    def predict(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        import torch

        missing = [n for n in self.signature.input_names if n not in inputs]
        if missing:
            raise InvalidUpload(
                f"inputs {missing} are missing; the model takes {self.signature.input_names}"
            )
        arrays = [np.ascontiguousarray(inputs[n]) for n in self.signature.input_names]
        if self.static_batch is not None and len(arrays[0]) != self.static_batch:
            flat = self._run_padded(arrays, self.static_batch)
        else:
            with torch.no_grad():
                flat = _flatten_outputs(self._callable(*[torch.from_numpy(a) for a in arrays]))
        return {spec.name: value for spec, value in zip(self.signature.outputs, flat, strict=True)}

    def _run_padded(self, arrays: list[np.ndarray], size: int) -> list[np.ndarray]:
        """A program exported with a fixed batch runs chunk by chunk, the last one padded."""
        import torch

        rows = len(arrays[0])
        parts: list[list[np.ndarray]] = []
        for start in range(0, rows, size):
            chunk = [a[start : start + size] for a in arrays]
            short = size - len(chunk[0])
            if short:
                chunk = [np.concatenate([c, np.repeat(c[-1:], short, axis=0)]) for c in chunk]
            with torch.no_grad():
                outs = _flatten_outputs(self._callable(*[torch.from_numpy(c) for c in chunk]))
            parts.append([o[: size - short] for o in outs])
        return [np.concatenate([p[i] for p in parts]) for i in range(len(parts[0]))]

    def generate_inputs(self, rows: int, seed: int = 0) -> dict[str, np.ndarray]:
        rng = np.random.default_rng(seed)
        return {spec.name: self._generate(spec, rows, rng) for spec in self.signature.inputs}

    def _shape(self, spec: TensorSpec, rows: int) -> tuple[int, ...]:
        example = self.example[spec.name].shape
        shape: list[int] = []
        for i, dim in enumerate(spec.shape or example):
            if i == 0 and (dim == "batch" or self.static_batch is not None):
                shape.append(rows)
            elif isinstance(dim, int):
                shape.append(dim)
            else:
                low, high = self.ranges.get(str(dim), (1, 1 << 30))
                shape.append(min(max(int(example[i]), low), high))
        return tuple(shape)

    def _generate(self, spec: TensorSpec, rows: int, rng: np.random.Generator) -> np.ndarray:
        shape = self._shape(spec, rows)
        example = self.example[spec.name]
        if spec.dtype == "bool":
            return rng.random(shape) < 0.5
        if np.issubdtype(np.dtype(spec.dtype), np.integer):
            low = int(example.min()) if example.size else 0
            high = int(example.max()) if example.size else 1
            return rng.integers(low, high + 1, size=shape).astype(spec.dtype)
        data = rng.standard_normal(shape)
        if rows > 2 and spec.shape and spec.shape[0] == "batch":
            data[0] = 0.0  # edge values: zeros, then large magnitudes
            data[1] *= 100.0
        return data.astype(spec.dtype)


def _static_batch(signature: Signature) -> int | None:
    """The fixed leading dim shared by every input, when the program has no batch axis."""
    firsts = {spec.shape[0] if spec.shape else None for spec in signature.inputs}
    if len(firsts) == 1:
        first = firsts.pop()
        if isinstance(first, int) and first > 0:
            return first
    return None


def _flatten_outputs(result: Any) -> list[np.ndarray]:
    import torch

    leaves, _ = torch.utils._pytree.tree_flatten(result)
    return [
        leaf.detach().cpu().numpy() if isinstance(leaf, torch.Tensor) else np.asarray(leaf)
        for leaf in leaves
    ]


def _output_names(result: Any, given: list[str] | None = None) -> list[str]:
    """Names from dict keys / named tuple fields; ``output`` or ``output_<i>`` otherwise."""
    import torch

    paths, _ = torch.utils._pytree.tree_flatten_with_path(result)
    if given:
        if len(given) != len(paths):
            raise InvalidUpload(f"output_names {given} do not match the {len(paths)} outputs")
        return list(given)
    if len(paths) == 1 and not paths[0][0]:
        return ["output"]
    names = []
    for i, (path, _leaf) in enumerate(paths):
        keys = [str(getattr(k, "key", getattr(k, "name", ""))) for k in path]
        keys = [k for k in keys if k and not k.isdigit()]
        names.append("_".join(keys) if keys else f"output_{i}")
    if len(set(names)) != len(names):
        names = [f"output_{i}" for i in range(len(paths))]
    return names


def _dtype_name(dtype: Any) -> str:
    import torch

    return str(torch.empty((), dtype=dtype).numpy().dtype)


# --- torch.export programs -------------------------------------------------------------


def _from_program(program: Any) -> TorchSource:
    import torch

    sig = program.graph_signature
    user_inputs = list(sig.user_inputs)
    placeholders = {n.name: n for n in program.graph.nodes if n.op == "placeholder"}
    arg_names = list(program.module_call_graph[0].signature.forward_arg_names or [])
    names = arg_names if len(arg_names) == len(user_inputs) else user_inputs
    example_args = _example_args(program, len(user_inputs))
    symbols: dict[str, str] = {}
    ranges: dict[str, tuple[int, int]] = {}
    inputs = []
    for i, (name, node_name) in enumerate(zip(names, user_inputs, strict=True)):
        val = placeholders[node_name].meta.get("val")
        if not isinstance(val, torch.Tensor):
            raise InvalidUpload(
                f"program input {name!r} is not a tensor; only tensor inputs are supported"
            )
        dims = _dims(val.shape, name, i, symbols, ranges, program.range_constraints)
        inputs.append(TensorSpec(name, _dtype_name(val.dtype), dims))
    if example_args is None:
        example_args = [_zeros_like_spec(spec, ranges) for spec in inputs]
    example = {
        spec.name: a.detach().cpu().numpy() for spec, a in zip(inputs, example_args, strict=True)
    }
    with torch.no_grad():
        result = program.module()(*example_args)
    out_names = _output_names(result)
    outputs = _program_outputs(program, out_names, symbols, ranges, result)
    signature = Signature(inputs=tuple(inputs), outputs=tuple(outputs))
    return TorchSource("export", program, signature, example, ranges)


def _example_args(program: Any, count: int) -> list[Any] | None:
    import torch

    example = getattr(program, "example_inputs", None)
    if not example:
        return None
    args, kwargs = example
    flat = list(args) + list(kwargs.values())
    if len(flat) != count or not all(isinstance(a, torch.Tensor) for a in flat):
        return None
    return flat


def _zeros_like_spec(spec: TensorSpec, ranges: dict[str, tuple[int, int]]) -> Any:
    import torch

    shape = [
        d if isinstance(d, int) else max(2, ranges.get(str(d), (2, 2))[0]) for d in spec.shape or ()
    ]
    return torch.zeros(shape, dtype=getattr(torch, spec.dtype))


def _dims(
    shape: Any,
    name: str,
    index: int,
    symbols: dict[str, str],
    ranges: dict[str, tuple[int, int]],
    constraints: dict[Any, Any],
) -> tuple[str | int, ...]:
    """Static dims as ints, symbolic ones named: ``batch`` for the leading one."""
    import torch

    dims: list[str | int] = []
    for axis, dim in enumerate(shape):
        if not isinstance(dim, torch.SymInt):
            dims.append(int(dim))
            continue
        expr = dim.node.expr
        key = str(expr)
        if key not in symbols:
            symbols[key] = (
                "batch" if axis == 0 and "batch" not in symbols.values() else f"{name}_dim{axis}"
            )
            bounds = constraints.get(expr)
            if bounds is not None:
                low = _bound(bounds.lower, 0)
                high = _bound(bounds.upper, 1 << 30)
                ranges[symbols[key]] = (low, high)
        dims.append(symbols[key])
    return tuple(dims)


def _bound(value: Any, default: int) -> int:
    """A sympy bound as an int; infinities (torch's ``int_oo``) become ``default``."""
    try:
        return int(value) if bool(value.is_integer) and bool(value.is_finite) else default
    except (TypeError, ValueError, AttributeError):
        return default


def _program_outputs(
    program: Any,
    names: list[str],
    symbols: dict[str, str],
    ranges: dict[str, tuple[int, int]],
    result: Any,
) -> list[TensorSpec]:
    import torch
    from torch.export.graph_signature import OutputKind

    out_node = next(n for n in program.graph.nodes if n.op == "output")
    vals = [
        arg.meta.get("val") if hasattr(arg, "meta") else None
        for arg, spec in zip(out_node.args[0], program.graph_signature.output_specs, strict=True)
        if spec.kind == OutputKind.USER_OUTPUT
    ]
    flat = _flatten_outputs(result)
    specs = []
    for i, (name, value) in enumerate(zip(names, flat, strict=True)):
        val = vals[i] if i < len(vals) else None
        if isinstance(val, torch.Tensor):
            dims = _dims(val.shape, name, 1, symbols, ranges, program.range_constraints)
        else:
            dims = tuple(int(d) for d in value.shape)
        specs.append(TensorSpec(name, str(value.dtype), dims))
    return specs


# --- TorchScript modules ---------------------------------------------------------------


def _from_script(module: Any, options: Mapping[str, Any]) -> TorchSource:
    import torch

    args = list(module.forward.schema.arguments)[1:]  # the first is the module itself
    names = list(options.get("input_names") or [a.name for a in args])
    if len(names) != len(args):
        raise InvalidUpload(f"input_names {names} do not match the module's {len(args)} inputs")
    shapes = options.get("input_shapes") or {}
    dtypes = options.get("input_dtypes") or {}
    axes = options.get("dynamic_axes") or {}
    unknown = sorted(set(axes) - set(names))
    if unknown:
        raise InvalidUpload(
            f"dynamic_axes names {unknown}, which are not inputs of the module ({names})"
        )
    inputs, example_args = [], []
    for name in names:
        shape = shapes.get(name) or _infer_shape(module, names.index(name))
        if shape is None:
            raise InvalidUpload(
                f"TorchScript carries no input shapes and the shape of input {name!r} could "
                "not be inferred; pass options input_shapes={'" + name + "': [null, 4]} "
                "(null = batch) or upload a torch.export program (.pt2) instead"
            )
        sizes = [2 if d is None else int(d) for d in shape]  # the example traced
        dims = _named_dims(name, ["batch" if d is None else int(d) for d in shape], axes)
        spec = TensorSpec(name, str(dtypes.get(name, "float32")), dims)
        inputs.append(spec)
        example_args.append(torch.zeros(sizes, dtype=getattr(torch, spec.dtype)))
    try:
        with torch.no_grad():
            result = module(*example_args)
    except Exception as exc:
        raise InvalidUpload(
            f"the TorchScript module fails on inputs shaped "
            f"{[tuple(a.shape) for a in example_args]}: {exc}; pass options input_shapes"
        ) from exc
    out_names = _output_names(result, options.get("output_names"))
    flat = _flatten_outputs(result)
    outputs = [
        TensorSpec(n, str(v.dtype), ("batch", *v.shape[1:]) if v.ndim else ())
        for n, v in zip(out_names, flat, strict=True)
    ]
    example = {spec.name: a.numpy() for spec, a in zip(inputs, example_args, strict=True)}
    signature = Signature(inputs=tuple(inputs), outputs=tuple(outputs))
    return TorchSource("torchscript", module, signature, example, {})


def _named_dims(
    name: str, dims: list[str | int], axes: dict[str, Any]
) -> tuple[int | str | None, ...]:
    """``dims`` with the axes that option ``dynamic_axes`` names for input ``name`` made
    symbolic (``{"x": {"2": "seq"}}``): the ONNX graph then accepts any size there."""
    named = axes.get(name) or {}
    if not isinstance(named, dict):
        raise InvalidUpload(f'dynamic_axes[{name!r}] must be an object like {{"1": "seq"}}')
    out: list[int | str | None] = list(dims)
    for key, label in named.items():
        try:
            axis = int(key)
        except (TypeError, ValueError):
            axis = -1
        if not 0 <= axis < len(dims):
            raise InvalidUpload(
                f"dynamic_axes[{name!r}] names axis {key!r}, but {name!r} has {len(dims)} "
                f"axes (0-{len(dims) - 1})"
            )
        if not (isinstance(label, str) and label.isidentifier()):
            raise InvalidUpload(
                f"dynamic_axes[{name!r}][{key!r}] must be a name like 'seq', got {label!r:.40}"
            )
        if axis == 0 and label != "batch":
            raise InvalidUpload(
                f"dynamic_axes[{name!r}]: axis 0 is the batch axis (null in input_shapes); "
                "name other axes"
            )
        out[axis] = label
    return tuple(out)


_SPATIAL_CANDIDATES = (28, 32, 16, 8, 64, 224)


def _infer_shape(module: Any, index: int) -> list[int | None] | None:
    """Guess an input's shape from the first layer that consumes it (Linear / Conv)."""
    import torch

    graph = module.forward.graph.copy()
    torch._C._jit_pass_inline(graph)
    params = dict(module.named_parameters())
    value = list(graph.inputs())[index + 1]
    for use in value.uses():
        kind = use.user.kind()
        weight = _weight_of(use.user, params, module)
        if weight is None:
            continue
        if kind == "aten::linear":
            return [None, int(weight.shape[1])]
        if kind in ("aten::_convolution", "aten::conv1d", "aten::conv2d", "aten::conv3d"):
            return _probe_spatial(module, index, int(weight.shape[1]), weight.dim() - 2)
    return None


def _weight_of(node: Any, params: dict[str, Any], module: Any) -> Any:
    """The tensor behind the node's second input (a GetAttr chain on self)."""
    inputs = list(node.inputs())
    if len(inputs) < 2:  # e.g. aten::size(x): not a layer with weights
        return None
    source = inputs[1].node()
    path = []
    while source.kind() == "prim::GetAttr":
        path.append(source.s("name"))
        source = list(source.inputs())[0].node()
    if not path:
        return None
    target: Any = module
    for attr in reversed(path):
        target = getattr(target, attr, None)
        if target is None:
            return None
    return target if hasattr(target, "shape") else None


def _probe_spatial(module: Any, index: int, channels: int, ndim: int) -> list[int | None] | None:
    import torch

    if len(module.forward.schema.arguments) != 2:  # self + one input
        return None
    for size in _SPATIAL_CANDIDATES:
        shape = [2, channels, *([size] * ndim)]
        try:
            with torch.no_grad():
                module(torch.zeros(shape))
        except Exception:  # noqa: S112 - probing sizes; the failure is the answer
            continue
        return [None, channels, *([size] * ndim)]
    return None


# --- the converter ---------------------------------------------------------------------


class TorchToOnnx:
    """PyTorch -> ONNX: the dynamo exporter, falling back to the TorchScript-based one.

    TorchScript uploads go straight to the TorchScript-based exporter (dynamo cannot
    export a ScriptModule). Which path ran is recorded in the converter info.
    """

    framework: ClassVar[str] = "torch"
    target: ClassVar[str] = "onnx"
    tolerance: ClassVar[Tolerance] = Tolerance(atol=1e-4, rtol=1e-3)

    def applies(self, source: Any) -> str | None:
        return None

    def convert(self, source: Any, sample: Sample, out_dir: Path) -> ConversionOutput:
        return export_onnx(source, out_dir)

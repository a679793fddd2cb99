"""transformers -> ONNX: the model exported with ``torch.onnx``, the tokenizer in the graph.

optimum's ONNX exporter is not used: ``optimum`` 2.x no longer carries it, and
``optimum-onnx`` 0.1 requires transformers < 4.58, older than the transformers this
project installs. The model is exported with ``torch.onnx.export`` (the TorchScript
exporter, falling back to the ``torch.export``-based one) with dynamic batch and
sequence axes.

In ``text`` mode the tokenizer becomes graph operators: onnxruntime-extensions writes
the tokenizer node (``ai.onnx.contrib``, e.g. ``BertTokenizer``) for one string; a
``Loop`` runs it on each row, truncated at ``max_length`` and padded to it, then the
batch is cut to its longest row, which is what the tokenizer's ``padding=True`` gives.
The artifact is a folder: ``model.onnx`` plus ``tokenizer/`` (the checkpoint's
tokenizer and config files), stored by the registry as one tar with the version.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from converters._base import ConversionOutput, Sample, Tolerance
from converters._onnx import library_versions, onnx_signature
from converters._registry import import_optional
from runtime.errors import ConversionError

__all__ = ["CONTRIB_DOMAIN", "TransformersToOnnx", "tokenizer_graph"]

CONTRIB_DOMAIN = "ai.onnx.contrib"
_TOKEN_NAMES = ("input_ids", "token_type_ids", "attention_mask")
_KEEP_FILES = (
    "config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "vocab.txt",
    "merges.txt",
    "vocab.json",
    "spiece.model",
)


def _helpers() -> tuple[Any, Any, Any]:
    onnx = import_optional("onnx", extra="server")
    return onnx, onnx.helper, onnx.numpy_helper


def _const(name: str, value: Any) -> Any:
    _, helper, numpy_helper = _helpers()
    tensor = numpy_helper.from_array(np.asarray(value, dtype=np.int64), f"{name}__value")
    return helper.make_node("Constant", [], [name], value=tensor)


def _tokenizer_node(tokenizer: Any, max_length: int) -> tuple[Any, dict[str, str]]:
    """The extensions' tokenizer node for one string, and which of its outputs is what."""
    ext = import_optional("onnxruntime_extensions", extra="transformers")
    pre, _ = ext.gen_processing_models(tokenizer, pre_kwargs={})
    nodes = [n for n in pre.graph.node if n.domain == CONTRIB_DOMAIN]
    if len(nodes) != 1 or len(pre.graph.node) != 1:
        raise ConversionError(
            f"onnxruntime-extensions expresses {type(tokenizer).__name__} as "
            f"{len(pre.graph.node)} nodes; only single-node tokenizers are supported"
        )
    node = nodes[0]
    outputs = {name: produced for name, produced in zip(_TOKEN_NAMES, node.output, strict=False)}
    if list(node.output[:3]) != list(_TOKEN_NAMES):
        raise ConversionError(f"unexpected outputs of the {node.op_type} node: {node.output}")
    return node, outputs


def tokenizer_graph(tokenizer: Any, max_length: int, text: str = "text") -> list[Any]:
    """Nodes turning the 1-D string tensor ``text`` into ``input_ids``, ``token_type_ids``
    and ``attention_mask`` ``[batch, longest row]`` (int64), like the tokenizer's
    ``padding=True, truncation=True, max_length=max_length``."""
    onnx, helper, _ = _helpers()
    template, _outputs = _tokenizer_node(tokenizer, max_length)
    node = onnx.NodeProto()
    node.CopyFrom(template)
    node.name = "tok/tokenizer"
    del node.input[:]
    node.input.append("tok/one_text")
    del node.output[:]
    node.output.extend(["tok/input_ids_raw", "tok/token_type_ids_raw", "tok/attention_mask_raw"])
    node.output.extend(f"tok/unused_{i}" for i in range(len(template.output) - 3))
    node.attribute.append(helper.make_attribute("max_length", int(max_length)))
    pads = {"input_ids": int(tokenizer.pad_token_id or 0), "token_type_ids": 0, "attention_mask": 0}
    body = [
        _const("tok/zero", [0]),
        _const("tok/max_length", [max_length]),
        helper.make_node("Gather", [text, "tok/i"], ["tok/string"], axis=0),
        helper.make_node("Unsqueeze", ["tok/string", "tok/zero"], ["tok/one_text"]),
        node,
        helper.make_node("Identity", ["tok/cond"], ["tok/cond_out"]),
    ]
    rows = []
    for name, pad in pads.items():
        raw, row = f"tok/{name}_raw", f"tok/{name}_row"
        body += [
            helper.make_node("Shape", [raw], [f"tok/{name}_len"]),
            helper.make_node("Sub", ["tok/max_length", f"tok/{name}_len"], [f"tok/{name}_gap"]),
            helper.make_node(
                "Concat", ["tok/zero", f"tok/{name}_gap"], [f"tok/{name}_pads"], axis=0
            ),
            _const(f"tok/{name}_pad", pad),
            helper.make_node("Pad", [raw, f"tok/{name}_pads", f"tok/{name}_pad"], [row]),
        ]
        rows.append(row)
    int64, boolean = onnx.TensorProto.INT64, onnx.TensorProto.BOOL
    loop_body = helper.make_graph(
        body,
        "tokenize_one_row",
        [
            helper.make_tensor_value_info("tok/i", int64, []),
            helper.make_tensor_value_info("tok/cond", boolean, []),
        ],
        [helper.make_tensor_value_info("tok/cond_out", boolean, [])]
        + [helper.make_tensor_value_info(r, int64, [max_length]) for r in rows],
    )
    stacked = [f"tok/{name}_all" for name in pads]
    nodes = [
        _const("tok/outer_zero", [0]),
        _const("tok/outer_one", [1]),
        helper.make_node("Shape", [text], ["tok/rows"]),
        helper.make_node("Squeeze", ["tok/rows", "tok/outer_zero"], ["tok/trips"]),
        helper.make_node("Loop", ["tok/trips", ""], stacked, body=loop_body, name="tok/rows_loop"),
        helper.make_node(
            "ReduceSum", ["tok/attention_mask_all", "tok/outer_one"], ["tok/lengths"], keepdims=0
        ),
        helper.make_node("ReduceMax", ["tok/lengths"], ["tok/longest"], keepdims=1),
    ]
    for name, all_rows in zip(pads, stacked, strict=True):
        nodes.append(
            helper.make_node(
                "Slice", [all_rows, "tok/outer_zero", "tok/longest", "tok/outer_one"], [name]
            )
        )
    return nodes


def _export(source: Any, dest: Path) -> None:
    torch = import_optional("torch", extra="transformers")
    names = list(source.token_inputs)
    example = source.tokenize(["a b", "a b c"])
    args = tuple(torch.from_numpy(example[n]) for n in names)
    axes = {n: {0: "batch", 1: "sequence"} for n in names}
    axes[source.head] = {0: "batch"} if source.head == "logits" else {0: "batch", 1: "sequence"}
    wrapped = _positional(source.native, names, source.head)
    first: Exception | None = None
    try:
        torch.onnx.export(
            wrapped,
            args,
            str(dest),
            dynamo=False,
            input_names=names,
            output_names=[source.head],
            dynamic_axes=axes,
            opset_version=18,
        )
        return
    except Exception as exc:  # noqa: BLE001 - then the torch.export-based exporter
        first = exc
    try:
        shapes = {n: {0: "batch", 1: "sequence"} for n in names}
        program = torch.onnx.export(
            wrapped,
            args,
            dynamo=True,
            input_names=names,
            output_names=[source.head],
            dynamic_shapes=shapes,
            opset_version=18,
        )
        program.save(str(dest), external_data=False)
    except Exception as exc:  # noqa: BLE001
        raise ConversionError(f"torch.onnx.export failed: {first}; then {exc}") from exc


def _positional(model: Any, names: list[str], head: str) -> Any:
    """The model as a module called with positional token tensors, returning one output."""
    torch = import_optional("torch", extra="transformers")

    class Positional(torch.nn.Module):  # type: ignore[misc, name-defined]
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, *tensors: Any) -> Any:
            out = self.model(**dict(zip(names, tensors, strict=True)))
            return getattr(out, head)

    return Positional().eval()


def _with_tokenizer(model: Any, source: Any) -> Any:
    """Put the tokenizer graph before the model's: its one input becomes ``text``."""
    _, helper, _ = _helpers()
    nodes = tokenizer_graph(source.tokenizer, source.max_length)
    graph = model.graph
    tokens = set(source.token_inputs)
    kept = [i for i in graph.input if i.name not in tokens]
    del graph.input[:]
    graph.input.extend([helper.make_tensor_value_info("text", 8, ["batch"]), *kept])
    # token outputs the model does not read (token_type_ids of a DistilBERT) stay unused
    original = list(graph.node)
    del graph.node[:]
    graph.node.extend(nodes + original)
    model.opset_import.append(helper.make_opsetid(CONTRIB_DOMAIN, 1))
    return model


class TransformersToOnnx:
    """A transformers checkpoint -> ``model.onnx`` (+ ``tokenizer/``), tokenizer in the graph."""

    framework: ClassVar[str] = "transformers"
    target: ClassVar[str] = "onnx"
    tolerance: ClassVar[Tolerance] = Tolerance(atol=1e-4, rtol=1e-3)

    def applies(self, source: Any) -> str | None:
        return None

    def convert(self, source: Any, sample: Sample, out_dir: Path) -> ConversionOutput:
        onnx, _, _ = _helpers()
        out_dir.mkdir(parents=True, exist_ok=True)
        dest = out_dir / "model.onnx"
        _export(source, dest)
        model = onnx.load(str(dest))
        if source.text_mode:
            model = _with_tokenizer(model, source)
        try:
            onnx.checker.check_model(model)
        except Exception as exc:  # noqa: BLE001 - checker errors vary
            raise ConversionError(f"the exported graph fails the ONNX checker: {exc}") from exc
        onnx.save(model, str(dest))
        for extra in out_dir.iterdir():  # external-data files of the first save
            if extra.name != "model.onnx":
                extra.unlink() if extra.is_file() else shutil.rmtree(extra)
        _copy_tokenizer(source.root, out_dir / "tokenizer")
        opsets = {o.domain or "ai.onnx": int(o.version) for o in model.opset_import}
        return ConversionOutput(
            path=out_dir,
            media_type="application/x-tar",
            signature=onnx_signature(model),
            converter={
                "name": "torch.onnx",
                "versions": library_versions(
                    "torch", "transformers", "onnx", "onnxruntime", "onnxruntime-extensions"
                ),
                "opset": opsets.get("ai.onnx"),
                "opsets": opsets,
                "tokenizer_in_graph": bool(source.text_mode),
            },
        )


def _copy_tokenizer(root: Path, dest: Path) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    for name in _KEEP_FILES:
        if (root / name).is_file():
            shutil.copyfile(root / name, dest / name)

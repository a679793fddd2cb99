"""Declared post-processing that becomes part of the ONNX artifact.

A network that ends in logits (torch, Keras, TensorFlow) can be uploaded with the
converter option ``postprocess``::

    {"activation": "softmax" | "sigmoid" | "none", "labels": ["fraud", "ok"], "top_k": 2}

The worker converts the network as usual, then appends a small ONNX graph (built here,
joined with ``onnx.compose.merge_models``) that turns the single output into what a
scikit-learn classifier answers: ``label`` (the argmax, a class name when ``labels`` is
given, else the class index) and ``probabilities`` (the activation's output), plus
``top_k_labels`` / ``top_k_probabilities`` when ``top_k`` > 1. Validation runs the
source network and applies the same post-processing in numpy (:meth:`PostProcess.apply`),
so the artifact is checked end to end against the source.

A sigmoid over one logit (binary) answers two columns, ``[1 - p, p]``, like
``predict_proba`` does.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from converters._base import OptionSpec
from runtime import Signature, TensorSpec
from runtime.errors import ConversionError, InvalidUpload

__all__ = ["POSTPROCESS_FRAMEWORKS", "PostProcess", "PostProcessedSource", "append_postprocess"]

POSTPROCESS_FRAMEWORKS = ("torch", "keras", "tensorflow")
_ACTIVATIONS = ("softmax", "sigmoid", "none")
_KEYS = ("activation", "labels", "top_k")
_MAX_LABELS = 10_000
_OUTPUTS = ("label", "probabilities", "top_k_labels", "top_k_probabilities")
_HINT = 'e.g. {"activation": "softmax", "labels": ["no", "yes"], "top_k": 2}'


@dataclass(frozen=True, slots=True)
class PostProcess:
    """What to append after the network's one output (its logits)."""

    activation: str = "softmax"
    labels: tuple[str, ...] | None = None
    top_k: int = 1

    @classmethod
    def from_options(cls, raw: Any) -> PostProcess:
        """Check the ``postprocess`` option; InvalidUpload says what is wrong."""
        if not isinstance(raw, Mapping):
            raise InvalidUpload(f"option 'postprocess' must be an object, {_HINT}")
        unknown = sorted(str(k) for k in raw if k not in _KEYS)
        if unknown:
            raise InvalidUpload(
                f"postprocess has unknown key(s) {', '.join(map(repr, unknown))}; "
                f"allowed: {', '.join(_KEYS)}"
            )
        activation = raw.get("activation", "softmax")
        if activation not in _ACTIVATIONS:
            raise InvalidUpload(
                f"postprocess activation {activation!r:.40} is not one of {', '.join(_ACTIVATIONS)}"
            )
        labels = raw.get("labels")
        if labels is not None:
            ok = isinstance(labels, list) and all(isinstance(x, str) for x in labels)
            if not ok or not 1 <= len(labels) <= _MAX_LABELS:
                raise InvalidUpload(
                    f"postprocess labels must be a list of 1..{_MAX_LABELS} class names (strings)"
                )
            if len(set(labels)) != len(labels):
                raise InvalidUpload("postprocess labels must be distinct class names")
            labels = tuple(labels)
        top_k = raw.get("top_k", 1)
        if isinstance(top_k, bool) or not isinstance(top_k, int) or not 1 <= top_k <= 1000:
            raise InvalidUpload(f"postprocess top_k must be an integer 1..1000, got {top_k!r:.40}")
        return cls(activation, labels, top_k)

    def classes(self, width: int | None) -> int:
        """The number of classes for a logits output ``width`` wide (None: unknown)."""
        binary = self.activation == "sigmoid" and width == 1
        n = 2 if binary else width
        if n is None:
            if self.labels is None:
                raise ConversionError(
                    "the network's output width is not known; give postprocess labels"
                )
            n = len(self.labels)
        if self.labels is not None and len(self.labels) != n:
            raise ConversionError(
                f"postprocess has {len(self.labels)} labels but the network answers {n} "
                "classes; give one label per class"
            )
        if self.top_k > n:
            raise ConversionError(f"postprocess top_k={self.top_k} exceeds the {n} classes")
        return n

    # -- the numpy reference -----------------------------------------------------------

    def apply(self, logits: np.ndarray) -> dict[str, np.ndarray]:
        """The post-processing in numpy: what the appended graph must reproduce."""
        x = np.asarray(logits)
        if self.activation == "softmax":
            e = np.exp(x - x.max(axis=1, keepdims=True))
            probs = e / e.sum(axis=1, keepdims=True)
        elif self.activation == "sigmoid":
            probs = 1.0 / (1.0 + np.exp(-x))
            if x.shape[1] == 1:
                probs = np.concatenate([1.0 - probs, probs], axis=1)
        else:
            probs = x
        probs = probs.astype(x.dtype)
        index = probs.argmax(axis=1).astype(np.int64)
        out = {"label": self._named(index), "probabilities": probs}
        if self.top_k > 1:
            top = np.argsort(-probs, axis=1, kind="stable")[:, : self.top_k].astype(np.int64)
            out["top_k_labels"] = self._named(top)
            out["top_k_probabilities"] = np.take_along_axis(probs, top, axis=1)
        return out

    def _named(self, index: np.ndarray) -> np.ndarray:
        if self.labels is None:
            return index
        named: np.ndarray = np.asarray(self.labels, dtype=object)[index]
        return named

    def signature(self, inputs: tuple[TensorSpec, ...], logits: TensorSpec) -> Signature:
        width = logits.shape[-1] if logits.shape else None
        n = self.classes(width if isinstance(width, int) else None)
        batch = logits.shape[0] if logits.shape else None
        label_dtype = "str" if self.labels is not None else "int64"
        outputs = [
            TensorSpec("label", label_dtype, (batch,)),
            TensorSpec("probabilities", logits.dtype, (batch, n)),
        ]
        if self.top_k > 1:
            outputs += [
                TensorSpec("top_k_labels", label_dtype, (batch, self.top_k)),
                TensorSpec("top_k_probabilities", logits.dtype, (batch, self.top_k)),
            ]
        return Signature(inputs=inputs, outputs=tuple(outputs))

    # -- the ONNX graph ------------------------------------------------------------------

    def graph(self, logits: TensorSpec, opset: int, ir_version: int) -> Any:
        """An ONNX model from ``logits`` to the outputs of :meth:`signature`."""
        from onnx import TensorProto, helper

        elem = helper.np_dtype_to_tensor_dtype(np.dtype(logits.dtype))
        width = logits.shape[-1] if logits.shape else None
        binary = self.activation == "sigmoid" and width == 1
        nodes = []
        if self.activation == "softmax":
            nodes.append(helper.make_node("Softmax", [logits.name], ["mp_post_probs"], axis=1))
        elif binary:
            nodes += [
                helper.make_node("Sigmoid", [logits.name], ["mp_post_p"]),
                helper.make_node("Sub", ["mp_post_one", "mp_post_p"], ["mp_post_q"]),
                helper.make_node("Concat", ["mp_post_q", "mp_post_p"], ["mp_post_probs"], axis=1),
            ]
        elif self.activation == "sigmoid":
            nodes.append(helper.make_node("Sigmoid", [logits.name], ["mp_post_probs"]))
        else:
            nodes.append(helper.make_node("Identity", [logits.name], ["mp_post_probs"]))
        nodes += [
            helper.make_node("Identity", ["mp_post_probs"], ["probabilities"]),
            helper.make_node("ArgMax", ["mp_post_probs"], ["mp_post_index"], axis=1, keepdims=0),
        ]
        inits = [helper.make_tensor("mp_post_one", elem, [], [1.0])] if binary else []
        self._name_node(nodes, inits, "mp_post_index", "label")
        if self.top_k > 1:
            inits.append(helper.make_tensor("mp_post_k", TensorProto.INT64, [1], [self.top_k]))
            nodes.append(
                helper.make_node(
                    "TopK",
                    ["mp_post_probs", "mp_post_k"],
                    ["top_k_probabilities", "mp_post_top"],
                    axis=1,
                    largest=1,
                    sorted=1,
                )
            )
            self._name_node(nodes, inits, "mp_post_top", "top_k_labels")
        sig = self.signature((logits,), logits)
        graph = helper.make_graph(
            nodes,
            "modelport_postprocess",
            [_value_info(logits)],
            [_value_info(t) for t in sig.outputs],
            initializer=inits,
        )
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
        model.ir_version = ir_version
        return model

    def _name_node(self, nodes: list[Any], inits: list[Any], index: str, out: str) -> None:
        from onnx import TensorProto, helper

        if self.labels is None:
            nodes.append(helper.make_node("Identity", [index], [out]))
            return
        if not any(i.name == "mp_post_classes" for i in inits):
            classes: Any = [c.encode("utf-8") for c in self.labels]
            inits.append(
                helper.make_tensor("mp_post_classes", TensorProto.STRING, [len(classes)], classes)
            )
        nodes.append(helper.make_node("Gather", ["mp_post_classes", index], [out], axis=0))


def _value_info(spec: TensorSpec) -> Any:
    from onnx import TensorProto, helper

    elem = TensorProto.STRING if spec.dtype == "str" else None
    if elem is None:
        elem = helper.np_dtype_to_tensor_dtype(np.dtype(spec.dtype))
    shape = None if spec.shape is None else [d if d is not None else "batch" for d in spec.shape]
    return helper.make_tensor_value_info(spec.name, elem, shape)


class PostProcessedSource:
    """A source model whose outputs pass through the post-processing (in numpy)."""

    def __init__(self, inner: Any, post: PostProcess) -> None:
        if len(inner.signature.outputs) != 1:
            names = ", ".join(inner.signature.output_names)
            raise ConversionError(
                f"postprocess needs a network with one output (its logits); this one has "
                f"{len(inner.signature.outputs)}: {names}"
            )
        clash = set(inner.signature.output_names) & set(_OUTPUTS)
        if clash:
            raise ConversionError(
                f"the network's output is named {clash.pop()!r}, which post-processing "
                "answers itself; rename it with the output_names option (e.g. ['logits'])"
            )
        self.inner = inner
        self.post = post
        self.framework = inner.framework
        self.native = inner.native
        self.logits = inner.signature.outputs[0]
        self.signature = post.signature(inner.signature.inputs, self.logits)

    def predict(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        logits = self.inner.predict(inputs)[self.logits.name]
        return self.post.apply(np.asarray(logits))

    def generate_inputs(self, rows: int, seed: int = 0) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = self.inner.generate_inputs(rows, seed)
        return out


def append_postprocess(path: Path, source: PostProcessedSource) -> Signature:
    """Rewrite the ONNX file at ``path`` with the post-processing graph after its output."""
    import onnx
    from onnx import compose

    if not path.is_file():
        raise ConversionError(
            "post-processing needs a single-file ONNX model; this one keeps external data"
        )
    base = onnx.load(str(path))
    opset = next((o.version for o in base.opset_import if o.domain in ("", "ai.onnx")), 17)
    post = source.post.graph(source.logits, opset, base.ir_version)
    try:
        merged = compose.merge_models(base, post, io_map=[(source.logits.name, source.logits.name)])
    except ValueError as exc:
        raise ConversionError(f"cannot append the post-processing graph: {exc}") from exc
    onnx.checker.check_model(merged)
    tmp = path.with_suffix(".post.onnx")
    onnx.save(merged, str(tmp))
    tmp.replace(path)
    return source.signature


#: The ``postprocess`` converter option, declared by the frameworks that apply it.
POSTPROCESS_OPTION = OptionSpec(
    dict,
    'an object like {"activation": "softmax", "labels": ["no", "yes"]}',
    check=PostProcess.from_options,
)

#: The ``preprocess`` converter option (a registered scikit-learn version composed in
#: front of the network); the registry pins and checks its reference.
PREPROCESS_OPTION = OptionSpec(dict, 'an object like {"model": "scaler:1"}')

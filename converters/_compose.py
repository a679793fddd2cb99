"""Pre-processing composition: a registered scikit-learn transformer in front of a network.

An upload may name a registered scikit-learn preprocessing version (a fitted
``StandardScaler``, ``ColumnTransformer`` ...) with the option
``{"preprocess": {"model": "scaler:1"}}``. The registry gives the worker that version's
source (to run it) and its validated ONNX artifact (to compose it); the worker converts
the network as usual, joins the two graphs with ``onnx.compose.merge_models`` (the
transformer's output feeding the network's input) and validates the one artifact end to
end against the two source models chained: ``network(transformer(X))``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from converters._base import Sample
from runtime import Signature
from runtime.errors import ConversionError

__all__ = ["ChainedSource", "compose_onnx"]


class ChainedSource:
    """The transformer's source model feeding the network's: what the artifact answers."""

    def __init__(self, pre: Any, net: Any) -> None:
        if len(pre.signature.outputs) != 1 or len(net.signature.inputs) != 1:
            raise ConversionError(
                "preprocessing composes a transformer with one output in front of a network "
                f"with one input; got {len(pre.signature.outputs)} output(s) and "
                f"{len(net.signature.inputs)} input(s)"
            )
        self.pre = pre
        self.net = net
        self.framework = net.framework
        self.native = net.native
        self.link = (pre.signature.outputs[0], net.signature.inputs[0])
        self.signature = Signature(inputs=pre.signature.inputs, outputs=net.signature.outputs)

    def transform(self, inputs: dict[str, Any]) -> dict[str, np.ndarray]:
        """The network's inputs for transformer inputs ``inputs``."""
        out, into = self.link
        value = np.asarray(self.pre.predict(inputs)[out.name]).astype(into.dtype)
        return {into.name: value}

    def predict(self, inputs: dict[str, Any]) -> dict[str, np.ndarray]:
        result: dict[str, np.ndarray] = self.net.predict(self.transform(inputs))
        return result

    def generate_inputs(self, rows: int, seed: int = 0) -> dict[str, np.ndarray]:
        generated: dict[str, np.ndarray] = self.pre.generate_inputs(rows, seed)
        return generated

    def network_sample(self, sample: Sample) -> Sample:
        """The sample as the network sees it (what its converter may trace with)."""
        return Sample(self.transform(sample.inputs), origin=sample.origin)


def _default_opset(model: Any) -> int:
    return next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)


def _align_domains(a: Any, b: Any) -> None:
    """Give both models the newer version of every other operator domain they share
    (e.g. ai.onnx.ml); the composed model is validated end to end afterwards."""
    for model in (a, b):  # one entry per domain (the version converter may add one)
        newest: dict[str, int] = {}
        for o in model.opset_import:
            key = "" if o.domain == "ai.onnx" else o.domain
            newest[key] = max(newest.get(key, 0), o.version)
        del model.opset_import[:]
        for domain, version in newest.items():
            model.opset_import.add(domain=domain, version=version)
    versions = {o.domain: o.version for o in a.opset_import}
    for entry in b.opset_import:
        if entry.domain in ("", "ai.onnx") or entry.domain not in versions:
            continue
        top = max(entry.version, versions[entry.domain])
        entry.version = top
        for other in a.opset_import:
            if other.domain == entry.domain:
                other.version = top


def compose_onnx(pre_path: Path, net_path: Path, chain: ChainedSource) -> None:
    """Rewrite ``net_path`` as the transformer's ONNX graph followed by the network's."""
    import onnx
    from onnx import compose, version_converter

    if not net_path.is_file():
        raise ConversionError(
            "preprocessing composes single-file ONNX models; this network keeps external data"
        )
    pre, net = onnx.load(str(pre_path)), onnx.load(str(net_path))
    target = max(_default_opset(pre), _default_opset(net))
    try:
        if _default_opset(pre) < target:
            pre = version_converter.convert_version(pre, target)
        if _default_opset(net) < target:
            net = version_converter.convert_version(net, target)
    except Exception as exc:  # noqa: BLE001 - the converter raises many kinds
        raise ConversionError(f"cannot bring both graphs to opset {target}: {exc}") from exc
    pre.ir_version = net.ir_version = max(pre.ir_version, net.ir_version)
    _align_domains(pre, net)
    pre = compose.add_prefix(pre, "mp_pre_", rename_inputs=False, rename_outputs=False)
    out, into = chain.link
    try:
        merged = compose.merge_models(pre, net, io_map=[(out.name, into.name)])
        onnx.checker.check_model(merged)
    except (ValueError, onnx.checker.ValidationError) as exc:
        raise ConversionError(f"cannot compose the preprocessing and the network: {exc}") from exc
    tmp = net_path.with_suffix(".composed.onnx")
    onnx.save(merged, str(tmp))
    tmp.replace(net_path)

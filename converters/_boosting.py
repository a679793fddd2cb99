"""What the gradient-boosting plug-ins (XGBoost, LightGBM, CatBoost) share.

Each library's own model file is the upload (no pickle): the framework plug-in reads
it with the library, and a :class:`BoostingSource` runs it as the reference. Inputs and
outputs follow the scikit-learn plug-in's names so every artifact looks alike: one
``X`` tensor ``[batch, n_features]``; ``label`` (class index, int64) and
``probabilities`` ``[batch, n_classes]`` for classifiers, ``variable`` ``[batch]`` for
regressors. ``tidy_onnx`` brings the exporters' graphs to that shape (input renamed,
ZipMap dropped, 1-D labels and values); the PMML converter goes through sklearn2pmml,
which needs the library's scikit-learn wrapper object.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from converters._base import ConversionOutput, Sample, Tolerance
from converters._onnx import library_versions, rename_value, write_onnx
from converters._registry import import_optional
from converters._samples import generate_inputs
from runtime import Signature, TensorSpec
from runtime.errors import ConversionError, InvalidUpload

__all__ = [
    "ONNX_MEDIA_TYPE",
    "BoostingSource",
    "BoostingToPmml",
    "OnnxmltoolsConverter",
    "distributions",
    "read_head",
    "save_onnx",
    "tidy_onnx",
]

ONNX_MEDIA_TYPE = "application/onnx"
PMML_MEDIA_TYPE = "application/xml"
# trees compare thresholds in float32 in every runtime; the sums of leaf values then
# differ in the last bits only. Drift beyond this is a conversion defect, reported.
TREE_TOLERANCE = Tolerance(atol=1e-4, rtol=1e-3)


def read_head(path: Path, size: int = 64) -> bytes:
    """The first ``size`` bytes of a file (empty when unreadable)."""
    try:
        with path.open("rb") as fh:
            return fh.read(size)
    except OSError:
        return b""


class BoostingSource:
    """A boosted-tree model loaded with its own library, run as the reference.

    ``scores`` maps a float32 ``[rows, n_features]`` matrix to class probabilities
    ``[rows, n_classes]`` (classifiers) or values ``[rows]`` (regressors).
    ``wrapper`` is the library's scikit-learn object around the same trees (what
    sklearn2pmml needs), or None where there is none.
    """

    def __init__(
        self,
        framework: str,
        native: Any,
        *,
        kind: str,
        n_features: int,
        n_classes: int,
        scores: Callable[[np.ndarray], np.ndarray],
        objective: str,
        wrapper: Any = None,
        used_features: list[int] | None = None,
        splits: Callable[[], dict[int, np.ndarray]] | None = None,
    ) -> None:
        if n_features < 1:
            raise InvalidUpload(f"the {framework} model declares no input features")
        self.framework = framework
        self.native = native
        self.kind = kind
        self.n_features = n_features
        self.n_classes = n_classes
        self.wrapper = wrapper
        self.objective = objective
        # the features some tree splits on: the only fields a PMML model declares
        self.used_features = sorted(used_features) if used_features else list(range(n_features))
        self._scores = scores
        self._splits = splits
        self.signature = Signature(
            inputs=(TensorSpec("X", "float32", ("batch", n_features)),),
            outputs=self._outputs(),
        )
        self.lineage = {
            "estimator": type(native).__name__,
            "objective": objective,
            "kind": kind,
            "loaded_with": framework,
            "versions": library_versions(*distributions(framework), "numpy"),
        }

    def _outputs(self) -> tuple[TensorSpec, ...]:
        if self.kind == "classifier":
            return (
                TensorSpec("label", "int64", ("batch",)),
                TensorSpec("probabilities", "float32", ("batch", self.n_classes)),
            )
        return (TensorSpec("variable", "float32", ("batch",)),)

    def predict(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        x = np.ascontiguousarray(np.asarray(inputs["X"], dtype=np.float32))
        values = np.asarray(self._scores(x))
        if self.kind != "classifier":
            return {"variable": values.reshape(len(x))}
        if values.ndim == 1:  # binary: the positive class's probability
            values = np.column_stack([1.0 - values, values])
        return {"label": values.argmax(axis=1).astype(np.int64), "probabilities": values}

    def generate_inputs(self, rows: int, seed: int = 0) -> dict[str, np.ndarray]:
        return generate_inputs(self.signature, rows, seed)

    def domain_inputs(
        self, rows: int, seed: int = 0, sample: dict[str, np.ndarray] | None = None
    ) -> tuple[dict[str, np.ndarray], str]:
        """Rows drawn uniformly over each feature's split thresholds (widened by a tenth
        of their span), so every tree sees both sides of its splits; a feature no tree
        splits on is drawn in [-1, 1]. Without readable splits: the generated rows."""
        thresholds = self._splits() if self._splits is not None else {}
        if not thresholds:
            return generate_inputs(self.signature, rows, seed), "generated from the signature"
        rng = np.random.default_rng(seed)
        x = rng.uniform(-1.0, 1.0, size=(rows, self.n_features))
        for feature, values in thresholds.items():
            lo, hi = float(np.min(values)), float(np.max(values))
            pad = max((hi - lo) / 10.0, 1e-3 * max(abs(lo), abs(hi), 1.0))
            x[:, feature] = rng.uniform(lo - pad, hi + pad, size=rows)
        origin = "uniform over each feature's split thresholds, widened by a tenth"
        return {"X": x.astype(np.float32)}, origin


def distributions(framework: str) -> tuple[str, ...]:
    """The pip distributions that may provide ``framework`` (XGBoost has a CPU-only one)."""
    return ("xgboost", "xgboost-cpu") if framework == "xgboost" else (framework,)


# --- ONNX ----------------------------------------------------------------------


def tidy_onnx(model: Any, source: BoostingSource) -> Any:
    """Rename the input to ``X``, drop ZipMap, and name/shape outputs like the source."""
    onnx = import_optional("onnx", extra="server")
    graph = model.graph
    weights = {i.name for i in graph.initializer}
    feeds = [i for i in graph.input if i.name not in weights]
    if len(feeds) != 1:
        raise ConversionError(f"the exported graph has {len(feeds)} inputs, expected one")
    rename_value(graph, feeds[0].name, "X")
    for node in [n for n in graph.node if n.op_type == "ZipMap"]:
        tensor, mapped = node.input[0], node.output[0]
        graph.node.remove(node)
        rename_value(graph, tensor, mapped)
    produced = [o.name for o in graph.output]
    wanted = source.signature.outputs
    if len(produced) < len(wanted):
        raise ConversionError(f"the exported graph has outputs {produced}, expected {wanted}")
    for old, spec in zip(produced, wanted, strict=False):
        rename_value(graph, old, spec.name)
    if source.kind != "classifier":
        _flatten(model, "variable")
    elem = {"int64": onnx.TensorProto.INT64, "float32": onnx.TensorProto.FLOAT}
    del graph.output[:]
    for spec in wanted:
        dims = ["N", source.n_classes] if spec.name == "probabilities" else ["N"]
        graph.output.append(onnx.helper.make_tensor_value_info(spec.name, elem[spec.dtype], dims))
    del graph.value_info[:]
    return model


def _flatten(model: Any, name: str) -> None:
    """Append ``Reshape(name, [-1])``: the regressor's values become 1-D like the source's."""
    from onnx import helper, numpy_helper

    graph = model.graph
    if not any((o.domain or "") == "" for o in model.opset_import):
        model.opset_import.append(helper.make_opsetid("", 15))
        model.ir_version = max(model.ir_version, 8)
    raw, shape = f"{name}__2d", f"{name}__flat_shape"
    rename_value(graph, name, raw)
    minus_one = numpy_helper.from_array(np.array([-1], dtype=np.int64), shape)
    graph.node.append(helper.make_node("Constant", [], [shape], value=minus_one))
    graph.node.append(helper.make_node("Reshape", [raw, shape], [name], name=f"{name}__flat"))


def save_onnx(
    model: Any, source: BoostingSource, out_dir: Path, converter: str, *libraries: str
) -> ConversionOutput:
    """Check and write ``model.onnx`` after tidying its outputs to the scikit-learn names."""
    return write_onnx(tidy_onnx(model, source), out_dir, converter, libraries)


class OnnxmltoolsConverter:
    """Boosted trees -> ONNX with onnxmltools (``TreeEnsemble*`` operators of ``ai.onnx.ml``).

    A subclass names its framework, the onnxmltools function and what it is given.
    """

    framework: ClassVar[str] = ""
    target: ClassVar[str] = "onnx"
    tolerance: ClassVar[Tolerance] = TREE_TOLERANCE
    function: ClassVar[str] = ""
    label: ClassVar[str] = ""
    arguments: ClassVar[Mapping[str, Any]] = {}

    def applies(self, source: Any) -> str | None:
        return None

    def convert(self, source: Any, sample: Sample, out_dir: Path) -> ConversionOutput:
        onnxmltools = import_optional("onnxmltools", extra="boosting")
        types = import_optional("onnxmltools.convert.common.data_types", extra="boosting")
        initial = [("X", types.FloatTensorType([None, source.n_features]))]
        convert = getattr(onnxmltools, self.function)
        try:
            model = convert(
                self.model_of(source), initial_types=initial, target_opset=15, **self.arguments
            )
        except Exception as exc:  # noqa: BLE001 - the converter raises many types
            raise ConversionError(
                f"onnxmltools cannot convert this {self.label} model: {exc}"
            ) from exc
        return save_onnx(
            model, source, out_dir, "onnxmltools", "onnxmltools", *distributions(self.framework)
        )

    def model_of(self, source: BoostingSource) -> Any:
        return source.native


# --- PMML ----------------------------------------------------------------------


class BoostingToPmml:
    """Boosted trees -> ``model.pmml`` with sklearn2pmml, from the scikit-learn wrapper.

    Fields are ``X_i`` (PMML fields are scalar columns), one for each feature that some
    tree splits on: sklearn2pmml leaves the others out of the model's mining schema, so
    the artifact's signature lists only those. ``adapt_inputs`` splits ``X`` into them.
    """

    framework: ClassVar[str] = ""
    target: ClassVar[str] = "pmml"
    tolerance: ClassVar[Tolerance] = TREE_TOLERANCE

    def applies(self, source: Any) -> str | None:
        if getattr(source, "wrapper", None) is None:
            return (
                f"PMML is not applicable: sklearn2pmml has no converter for {source.framework} "
                "models; the onnx artifact carries this model"
            )
        if shutil.which("java") is None:
            return "PMML unavailable: sklearn2pmml needs a Java runtime (8+) on PATH"
        return None

    def adapt_inputs(self, source: Any, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        x = np.asarray(inputs["X"])
        return {f"X_{i}": x[:, i] for i in source.used_features}

    def convert(self, source: Any, sample: Sample, out_dir: Path) -> ConversionOutput:
        s2p = import_optional("sklearn2pmml", extra="pmml")
        fields = [f"X_{i}" for i in range(source.n_features)]
        try:
            pipeline = s2p.make_pmml_pipeline(
                source.wrapper, active_fields=fields, target_fields=["y"]
            )
            out_dir.mkdir(parents=True, exist_ok=True)
            dest = out_dir / "model.pmml"
            s2p.sklearn2pmml(pipeline, str(dest))
        except Exception as exc:  # noqa: BLE001 - the Java side reports in the message
            lines = [ln for ln in str(exc).splitlines() if "Exception" in ln]
            reason = lines[0].strip() if lines else str(exc)[-500:]
            raise ConversionError(f"sklearn2pmml failed on {source.framework}: {reason}") from exc
        inputs = tuple(TensorSpec(f"X_{i}", "float64", ("batch",)) for i in source.used_features)
        outputs = tuple(
            TensorSpec(o.name, "float64" if o.dtype == "float32" else o.dtype, o.shape)
            for o in source.signature.outputs
        )
        return ConversionOutput(
            path=dest,
            media_type=PMML_MEDIA_TYPE,
            signature=Signature(inputs, outputs),
            converter={
                "name": "sklearn2pmml",
                "versions": library_versions(
                    "sklearn2pmml", *distributions(source.framework), "pypmml"
                ),
                "opset": None,
                "fields": [f"X_{i}" for i in source.used_features],
            },
        )

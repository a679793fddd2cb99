"""scikit-learn uploads (``.skops``; pickles only when allowed) and the ONNX converter.

Inputs: one ``X`` tensor ``[batch, n_features_in_]`` for array-fitted models; one
``[batch, 1]`` input per column (named after the column, string columns as ``str``)
when a ColumnTransformer selects DataFrame columns. Outputs, the same in the source
and every artifact: ``label`` + ``probabilities`` for classifiers (``label`` alone
when there is no ``predict_proba``), ``variable`` for regressors and transformers,
``label`` + ``scores`` for clusterers.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from converters._base import NO_PICKLES, ConversionOutput, OptionSpec, Sample, Tolerance
from converters._onnx import library_versions, rename_value, write_onnx
from converters._protocol import ServerPolicy
from converters._registry import import_optional
from converters._samples import LARGE, MIN_ROWS, generate_inputs
from converters._sklearn_domain import column_transformer
from converters._sklearn_inputs import sklearn_domain_inputs, sklearn_extreme_inputs
from converters._sklearn_shapes import (
    OutputWidths,
    input_kind,
    label_dtype,
    probe_outputs,
    rebuild_for_onnx,
)
from converters._sniff import head, is_pickle_upload, is_zip, zip_names
from runtime import Signature, TensorSpec
from runtime.errors import ConversionError, InvalidUpload, UnsupportedMediaType

__all__ = ["SklearnFramework", "SklearnSource", "SklearnToOnnx"]


@dataclass(frozen=True)
class Column:
    """One DataFrame column the model reads."""

    name: str
    dtype: str  # "float32" | "int64" | "str"
    categories: tuple[Any, ...] = ()


def _kind(est: Any) -> str:
    from sklearn.base import is_classifier, is_outlier_detector, is_regressor

    if is_classifier(est):
        return "classifier"
    if is_regressor(est):
        return "regressor"
    if getattr(est, "_estimator_type", None) == "clusterer" or hasattr(est, "cluster_centers_"):
        return "clusterer"
    if is_outlier_detector(est) and hasattr(est, "predict"):
        return "outlier"
    if hasattr(est, "predict") and hasattr(est, "predict_proba"):
        return "mixture"  # GaussianMixture & co: a component and its probabilities
    if hasattr(est, "transform"):
        return "transformer"
    raise InvalidUpload(
        f"{type(est).__name__} is neither a classifier, regressor, clusterer nor transformer"
    )


def _final_step(est: Any) -> Any:
    from sklearn.pipeline import Pipeline

    while isinstance(est, Pipeline):
        est = est.steps[-1][1]
    return est


def _encoder_categories(trans: Any) -> list[np.ndarray] | None:
    from sklearn.pipeline import Pipeline

    steps = [s for _, s in trans.steps] if isinstance(trans, Pipeline) else [trans]
    for step in steps:
        cats = getattr(step, "categories_", None)
        if cats is not None:
            return list(cats)
    return None


def _columns(est: Any) -> list[Column] | None:
    """Per-column inputs when a ColumnTransformer selects named DataFrame columns."""
    ct = column_transformer(est)
    names = getattr(est, "feature_names_in_", None)
    if ct is None or names is None:
        return None
    kinds: dict[str, Column] = {}
    for _name, trans, cols in ct.transformers_:
        if isinstance(trans, str) or not isinstance(cols, list | tuple | np.ndarray):
            continue
        cats = _encoder_categories(trans)
        for i, col in enumerate(cols):
            if not isinstance(col, str):
                continue
            if cats is not None and i < len(cats):
                values = cats[i]
                dtype = "str" if values.dtype.kind in "OUS" else "int64"
                if values.dtype.kind == "f":
                    dtype = "float32"
                kinds[col] = Column(col, dtype, tuple(values.tolist()))
    return [kinds.get(str(n), Column(str(n), "float32")) for n in names]


class SklearnSource:
    """A fitted scikit-learn estimator with its signature."""

    framework = "sklearn"

    def __init__(self, estimator: Any, how: str) -> None:
        self.native = estimator
        self.kind = _kind(estimator)
        self.input_kind = input_kind(estimator)
        self.columns = _columns(estimator) if self.input_kind == "matrix" else None
        self.n_features = _n_features(estimator)
        self._domains: list[Any] | None = None
        self.widths = self._probe()
        self.has_proba = (
            self.kind == "classifier"
            and hasattr(estimator, "predict_proba")
            and (self.widths is None or self.widths.proba_is_array)
        )
        self.signature = Signature(inputs=self._input_specs(), outputs=self._output_specs())
        self.lineage = {
            "estimator": type(estimator).__name__,
            "final_estimator": type(_final_step(estimator)).__name__,
            "kind": self.kind,
            "loaded_with": how,
            "versions": library_versions("scikit-learn", "numpy", "scipy", "skops"),
        }

    def _probe(self) -> OutputWidths | None:
        """Output widths measured on two in-domain rows (array inputs only)."""
        if self.columns is not None or self.input_kind != "matrix" or not self.n_features:
            return None
        from converters._sklearn_domain import domain_matrix, feature_domains

        self._domains = feature_domains(self.native, self.n_features)
        rows = domain_matrix(self._domains, 2, np.random.default_rng(0))
        return probe_outputs(self.native, self.frame({"X": rows.astype(np.float32)}))

    def _input_specs(self) -> tuple[TensorSpec, ...]:
        if self.input_kind == "labels":
            return (TensorSpec("X", label_dtype(self.native), ("batch",)),)
        if self.input_kind in ("text", "dict"):
            return (TensorSpec("X", "str", ("batch", 1)),)
        if self.columns is not None:
            return tuple(TensorSpec(c.name, c.dtype, ("batch", 1)) for c in self.columns)
        return (TensorSpec("X", "float32", ("batch", self.n_features)),)

    def _output_specs(self) -> tuple[TensorSpec, ...]:
        est = self.native
        if self.kind == "classifier":
            classes = np.asarray(est.classes_)
            width = self.widths.predict if self.widths else None
            label = TensorSpec(
                "label",
                "str" if classes.dtype.kind in "OUS" else "int64",
                ("batch", width) if width else ("batch",),
            )
            if not self.has_proba:
                return (label,)
            return (label, TensorSpec("probabilities", "float32", ("batch", len(classes))))
        if self.kind == "clusterer":
            k = getattr(_final_step(est), "n_clusters", None)
            return (
                TensorSpec("label", "int64", ("batch",)),
                TensorSpec("scores", "float32", ("batch", k)),
            )
        if self.kind == "outlier":
            return (TensorSpec("label", "int64", ("batch",)),)
        if self.kind == "mixture":
            k = getattr(_final_step(est), "n_components", None)
            return (
                TensorSpec("label", "int64", ("batch",)),
                TensorSpec("probabilities", "float32", ("batch", k)),
            )
        n_out = getattr(_final_step(est), "n_outputs_", None)
        if self.widths is not None:
            n_out = self.widths.predict
        shape: tuple[int | str | None, ...] = ("batch",)
        if self.kind == "transformer" or (n_out or 1) > 1:
            shape = ("batch", n_out if self.kind != "transformer" else None)
        return (TensorSpec("variable", "float32", shape),)

    def frame(self, inputs: dict[str, np.ndarray]) -> Any:
        """What the estimator is called with: a DataFrame, a 2-D array, 1-D labels or
        a list of strings."""
        if self.input_kind == "labels":
            return np.asarray(inputs["X"]).reshape(-1)
        if self.input_kind == "text":
            return [str(v) for v in np.asarray(inputs["X"]).reshape(-1)]
        if self.columns is not None:
            import pandas as pd

            data = {c.name: np.asarray(inputs[c.name]).reshape(-1) for c in self.columns}
            return pd.DataFrame(data)
        x = np.asarray(inputs["X"])
        if x.dtype == np.float32:  # exact in float64, what the estimator was fitted on
            x = x.astype(_fit_dtype(self.native))
        names = getattr(self.native, "feature_names_in_", None)
        if names is not None:
            import pandas as pd

            return pd.DataFrame(x, columns=list(names))
        return x

    def predict(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        est, x = self.native, self.frame(inputs)
        if self.kind == "classifier":
            out = {"label": np.asarray(est.predict(x))}
            if self.has_proba:
                out["probabilities"] = np.asarray(est.predict_proba(x))
            return out
        if self.kind == "clusterer":
            return {"label": np.asarray(est.predict(x)), "scores": np.asarray(est.transform(x))}
        if self.kind == "outlier":
            return {"label": np.asarray(est.predict(x))}
        if self.kind == "mixture":
            return {"label": np.asarray(est.predict(x)), "probabilities": est.predict_proba(x)}
        if self.kind == "regressor":
            return {"variable": np.asarray(est.predict(x))}
        return {"variable": _dense(est.transform(x))}

    def domain_inputs(
        self, rows: int, seed: int = 0, sample: dict[str, np.ndarray] | None = None
    ) -> tuple[dict[str, np.ndarray], str]:
        """Rows inside the model's domain: the sample's range first, then what the
        fitted estimator knows (``converters._sklearn_domain``)."""
        return sklearn_domain_inputs(self, max(rows, MIN_ROWS), seed, sample)

    def extreme_inputs(self, domain: dict[str, np.ndarray], seed: int = 1) -> Any:
        """The in-domain rows with continuous features pushed far out (categories kept)."""
        return sklearn_extreme_inputs(self, domain, seed)

    def generate_inputs(self, rows: int, seed: int = 0) -> dict[str, np.ndarray]:
        rows = max(rows, MIN_ROWS)
        if self.columns is None:
            return generate_inputs(self.signature, rows, seed)
        rng = np.random.default_rng(seed)
        out: dict[str, np.ndarray] = {}
        for col in self.columns:
            if col.categories:
                values = np.array(col.categories, dtype=object)
                picked = values[rng.integers(0, len(values), size=rows)]
                out[col.name] = picked.astype(object if col.dtype == "str" else col.dtype)
            else:
                x = rng.standard_normal(rows)
                x[1], x[2], x[3] = 0.0, LARGE, -LARGE
                out[col.name] = x.astype(col.dtype)
            out[col.name] = out[col.name].reshape(rows, 1)
        return out


def _fit_dtype(est: Any) -> Any:
    """float64, or the float type of a clusterer's centres (KMeans predicts only in it)."""
    centers = getattr(est, "cluster_centers_", None)
    if isinstance(centers, np.ndarray) and centers.dtype == np.float32:
        return np.float32
    return np.float64


def _dense(x: Any) -> np.ndarray:
    return np.asarray(x.toarray() if hasattr(x, "toarray") else x)


def _n_features(est: Any) -> int | None:
    n = getattr(est, "n_features_in_", None)
    return int(n) if n is not None else None


def skops_upload(path: Path, filename: str) -> bool:
    """A skops archive (a zip with ``schema.json``); its types are checked on the way."""
    if not is_zip(head(path, filename)):
        return False
    names = [n for n in zip_names(path, filename) if not n.startswith("__MACOSX/")]
    if "schema.json" not in names:
        return False
    from converters._sklearn_applicable import check_inference
    from converters._skops_trust import check_types

    check_types(path)  # refuse non-allowed types before any version exists
    check_inference(path, filename)  # and estimators that cannot infer on new rows
    return True


class SklearnFramework:
    """``.skops`` (allow-listed types) and, only when allowed, pickle/joblib files."""

    name: ClassVar[str] = "sklearn"
    extensions: ClassVar[tuple[str, ...]] = (".skops", ".pkl", ".joblib")
    accepts: ClassVar[str] = (
        "scikit-learn (.skops from skops.io.dump; .pkl/.joblib only when the server allows pickles)"
    )

    options: ClassVar[Mapping[str, OptionSpec]] = {}

    def sniff(self, path: Path, filename: str, policy: ServerPolicy = NO_PICKLES) -> bool:
        """A skops archive, or a pickle/joblib stream when the server allows pickles."""
        if skops_upload(path, filename):
            return True
        return policy.allow_pickle and is_pickle_upload(path, filename)

    def load(
        self, path: Path, filename: str, options: Mapping[str, Any], policy: ServerPolicy
    ) -> SklearnSource:
        import zipfile

        if zipfile.is_zipfile(path):
            est, how = self._load_skops(path, filename), "skops"
        else:  # anything else can only be a pickle/joblib stream
            est, how = self._load_pickle(path, filename, policy), "pickle"
        _check_fitted(est, filename)
        return SklearnSource(est, how)

    @staticmethod
    def _load_skops(path: Path, filename: str) -> Any:
        from converters._skops_trust import check_types, untrusted_types

        sio = import_optional("skops.io", extra="sklearn")
        check_types(path)
        trusted = untrusted_types(path)
        try:
            return sio.load(str(path), trusted=trusted)
        except Exception as exc:  # noqa: BLE001 - skops raises many types
            raise InvalidUpload(f"{filename!r} could not be loaded with skops: {exc}") from exc

    @staticmethod
    def _load_pickle(path: Path, filename: str, policy: ServerPolicy) -> Any:
        if not policy.allow_pickle:
            raise UnsupportedMediaType(
                f"{filename!r} is a pickle and pickles are not allowed on this server; "
                "save the model with skops.io.dump and upload the .skops file"
            )
        joblib = import_optional("joblib", extra="sklearn")
        try:
            return joblib.load(path)  # noqa: S301 - opted in via allow_pickle, worker only
        except Exception as exc:  # noqa: BLE001
            raise InvalidUpload(f"{filename!r} could not be unpickled: {exc}") from exc


def _check_fitted(est: Any, filename: str) -> None:
    from sklearn.base import BaseEstimator
    from sklearn.exceptions import NotFittedError
    from sklearn.utils.validation import check_is_fitted

    if not isinstance(est, BaseEstimator):
        raise InvalidUpload(
            f"{filename!r} holds a {type(est).__name__}, not a scikit-learn estimator"
        )
    try:
        check_is_fitted(est)
    except NotFittedError as exc:
        raise InvalidUpload(f"{filename!r} holds an unfitted {type(est).__name__}; fit it") from exc


# --- ONNX ----------------------------------------------------------------------


@contextlib.contextmanager
def _plain_attributes() -> Iterator[None]:
    """Cast numpy scalars and bools in node attributes to plain ints/floats.

    skl2onnx hands HistGradientBoosting's tree attributes to onnx as Python bools and
    numpy scalars mixed with ints, which protobuf 7 refuses; the values are the same.
    """
    container = import_optional("skl2onnx.common._container", extra="sklearn")
    cls = container.ModelComponentContainer
    original = cls.add_node

    def add_node(self: Any, *args: Any, **attrs: Any) -> Any:
        return original(self, *args, **{k: _plain(v) for k, v in attrs.items()})

    cls.add_node = add_node
    try:
        yield
    finally:
        cls.add_node = original


def _plain(value: Any) -> Any:
    if isinstance(value, list | tuple) and value:
        return [_plain_scalar(v) for v in value]
    return _plain_scalar(value)


def _plain_scalar(v: Any) -> Any:
    if isinstance(v, bool | np.bool_):
        return int(v)
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.floating):
        return float(v)
    return v


def _initial_types(source: SklearnSource) -> list[tuple[str, Any]]:
    dt = import_optional("skl2onnx.common.data_types", extra="sklearn")
    types = {"float32": dt.FloatTensorType, "int64": dt.Int64TensorType, "str": dt.StringTensorType}
    return [
        (s.name, types[s.dtype]([None, *(s.shape or (None, None))[1:]]))
        for s in source.signature.inputs
    ]


def _convert(source: SklearnSource, options: dict[Any, Any] | None) -> Any:
    from converters._boosting_sklearn import register_boosting_converters

    skl2onnx = import_optional("skl2onnx", extra="sklearn")
    register_boosting_converters()  # XGBoost/LightGBM steps, when their library is loaded
    with _plain_attributes():
        return skl2onnx.convert_sklearn(
            rebuild_for_onnx(source.native),
            initial_types=_initial_types(source),
            options=options,
            target_opset={"": 18, "ai.onnx.ml": 3},
        )


class SklearnToOnnx:
    """scikit-learn -> ONNX with skl2onnx: no ZipMap, meaningful 1-D label/variable outputs."""

    framework: ClassVar[str] = "sklearn"
    target: ClassVar[str] = "onnx"
    tolerance: ClassVar[Tolerance] = Tolerance(atol=1e-4, rtol=1e-3)

    def applies(self, source: Any) -> str | None:
        if source.input_kind == "dict":
            return (
                f"ONNX is not applicable: {source.lineage['estimator']} reads Python dicts, and "
                "ONNX's DictVectorizer takes one map per call, not a batch of rows; fit the "
                "model on DataFrame columns (e.g. OneHotEncoder in a ColumnTransformer) instead"
            )
        return None

    def convert(self, source: Any, sample: Sample, out_dir: Path) -> ConversionOutput:
        import_optional("onnx", extra="sklearn")  # names the extra when onnx is missing
        notes: list[str] = []
        model = self._to_onnx(source, notes)
        _shape_outputs(model, source)
        libraries = ("skl2onnx", "scikit-learn")
        return write_onnx(model, out_dir, "skl2onnx", libraries, notes=notes)

    @staticmethod
    def _to_onnx(source: SklearnSource, notes: list[str]) -> Any:
        options = None
        if source.kind == "classifier":
            options = {type(_final_step(rebuild_for_onnx(source.native))): {"zipmap": False}}
        try:
            return _convert(source, options)
        except Exception as first:  # noqa: BLE001 - retried without options, then reported
            if options is None:
                raise ConversionError(f"skl2onnx failed: {first}") from first
            try:
                model = _convert(source, None)
            except Exception as exc:  # noqa: BLE001
                raise ConversionError(f"skl2onnx failed: {first}") from exc
            notes.append(f"converted without zipmap=False ({type(first).__name__}: {first})")
            return model


def _shape_outputs(model: Any, source: SklearnSource) -> None:
    """Rename skl2onnx outputs to the source's names and make labels/1-D variables 1-D."""
    wanted = source.signature.output_names
    graph = model.graph
    produced = [o.name for o in graph.output]
    mapping = _output_mapping(produced, source)
    for new in mapping.values():
        _free_name(graph, new, keep=set(produced))
    for old, new in mapping.items():
        if old != new:
            rename_value(graph, old, new, inputs=False)
    for spec in source.signature.outputs:
        if spec.shape is not None and len(spec.shape) == 1 and spec.name in wanted:
            _flatten(model, spec.name)
    keep = [o for o in graph.output if o.name in wanted]
    extra = [o for o in graph.output if o.name not in wanted]
    del graph.output[:]
    graph.output.extend(sorted(keep, key=lambda o: wanted.index(o.name)) + extra)


def _output_mapping(produced: list[str], source: SklearnSource) -> dict[str, str]:
    mapping: dict[str, str] = {}
    if source.kind == "classifier":
        if len(produced) >= 1:
            mapping[produced[0]] = "label"
        if len(produced) >= 2:
            mapping[produced[1]] = "probabilities" if source.has_proba else "scores"
    elif source.kind in ("clusterer", "outlier"):
        mapping.update(zip(produced[:2], ["label", "scores"], strict=False))
    elif source.kind == "mixture":
        mapping.update(zip(produced[:2], ["label", "probabilities"], strict=False))
    elif produced:
        mapping[produced[0]] = "variable"
    return mapping


def _free_name(graph: Any, name: str, keep: set[str]) -> None:
    """Rename an internal value called ``name`` (not a graph output) out of the way, so
    an output can take the name (a FeatureUnion's scaler writes ``variable`` inside)."""
    if name in keep:
        return
    inner = {o for node in graph.node for o in node.output}
    if name in inner:
        rename_value(graph, name, f"{name}_inner", inputs=False)


def _flatten(model: Any, name: str) -> None:
    """Append ``Reshape(name, [-1])`` so the output is 1-D like sklearn's (n,)."""
    from onnx import TensorProto, helper, numpy_helper

    graph = model.graph
    out = next(o for o in graph.output if o.name == name)
    raw = f"{name}_unflattened"
    rename_value(graph, name, raw, inputs=False)
    out.name = raw
    shape_name = f"{name}_flat_shape"
    graph.initializer.append(numpy_helper.from_array(np.array([-1], dtype=np.int64), shape_name))
    graph.node.append(helper.make_node("Reshape", [raw, shape_name], [name], name=f"{name}_flat"))
    elem = out.type.tensor_type.elem_type or TensorProto.FLOAT
    index = list(graph.output).index(out)
    graph.output.remove(out)
    graph.output.insert(index, helper.make_tensor_value_info(name, elem, ["N"]))

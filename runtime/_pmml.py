"""The PMML backend, through pypmml (extra ``modelport[pmml]``, needs Java).

pypmml returns the predicted label only with "supplementary output" switched on; its
columns are mapped to the same outputs ONNX classifiers have: ``label`` and
``probabilities`` (one column per class, in the model's class order). Regressions
give ``variable``, clustering models the cluster id as ``label``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from runtime._signature import Signature, TensorSpec
from runtime.errors import InferenceError, MissingDependency, ModelportError

__all__ = ["PmmlBackend"]

_DTYPES = {
    "double": "float64",
    "float": "float32",
    "integer": "int64",
    "string": "str",
    "boolean": "bool",
}


def _import_pypmml() -> Any:
    try:
        import pypmml
    except ImportError as exc:
        raise MissingDependency(
            "loading a PMML model needs pypmml (and Java 8+): pip install 'modelport[pmml]'"
        ) from exc
    return pypmml


class PmmlBackend:
    """Runs a ``.pmml`` file with pypmml. Calls are serialised (one JVM gateway)."""

    format = "pmml"
    thread_safe = False
    device = "cpu"
    providers: tuple[str, ...] = ("pypmml",)

    def __init__(self, path: Path, *, device: str = "cpu", fallback: bool = False, **options: Any):
        if device not in ("cpu", "auto") and not fallback:
            from runtime.errors import DeviceUnavailable

            raise DeviceUnavailable(f"PMML models run on the CPU only; device {device!r} refused")
        if options:
            raise TypeError(f"PMML models take no session options; got {', '.join(options)}")
        pypmml = _import_pypmml()
        try:
            model = pypmml.Model.fromFile(str(path))
        except Exception as exc:
            if "java" in str(exc).lower():
                raise MissingDependency(
                    f"pypmml needs a Java runtime (8 or newer) on PATH to load {path}: {exc}"
                ) from exc
            raise ModelportError(f"pypmml cannot load {path}: {exc}") from exc
        model.setSupplementOutput(True)
        self._model = model
        self._inputs = [
            TensorSpec(f.name, _DTYPES.get(str(f.dataType), "str"), ("batch",))
            for f in model.inputFields
        ]
        self._classification = str(model.functionName) == "classification"
        self._clustering = str(model.functionName) == "clustering"
        self._classes = list(model.classes) if self._classification else []
        declared = {str(n) for n in (model.outputNames or [])}
        # Some classifiers' PMML declares no probability fields (e.g. an SVM without
        # Platt scaling): such a model offers the label only.
        self._has_probs = self._classification and all(
            f"probability({c})" in declared for c in self._classes
        )
        outputs: tuple[TensorSpec, ...]
        if self._classification:
            label_dtype = "int64" if all(isinstance(c, int) for c in self._classes) else "str"
            outputs = (TensorSpec("label", label_dtype, ("batch",)),)
            if self._has_probs:
                outputs += (TensorSpec("probabilities", "float64", ("batch", len(self._classes))),)
        elif self._clustering:  # the cluster id; PMML's affinities are not sklearn's scores
            outputs = (TensorSpec("label", "int64", ("batch",)),)
        else:
            outputs = (TensorSpec("variable", "float64", ("batch",)),)
        self.signature = Signature(tuple(self._inputs), outputs)

    def run(self, output_names: list[str] | None, feeds: dict[str, Any]) -> list[Any]:
        import pandas as pd

        frame = pd.DataFrame({k: np.asarray(v).reshape(len(v), -1)[:, 0] for k, v in feeds.items()})
        try:
            result = self._model.predict(frame)
        except Exception as exc:
            raise InferenceError(f"pypmml failed running the model: {exc}") from exc
        outs = self._outputs(result)
        names = output_names or self.signature.output_names
        return [outs[n] for n in names]

    def _outputs(self, result: Any) -> dict[str, np.ndarray]:
        columns = [str(c) for c in result.columns]
        predicted = next((c for c in columns if c.startswith("predicted_")), None)
        if self._clustering:
            col = "cluster" if "cluster" in columns else (predicted or columns[0])
            return {"label": result[col].to_numpy().astype(np.int64)}
        if not self._classification:
            col = predicted or columns[0]
            return {"variable": result[col].to_numpy(dtype=np.float64)}
        outs: dict[str, np.ndarray] = {}
        if self._has_probs:
            outs["probabilities"] = np.column_stack(
                [result[f"probability({c})"].to_numpy(dtype=np.float64) for c in self._classes]
            )
        if predicted is not None:
            label = result[predicted].to_numpy()
        elif self._has_probs:  # no label column: the most probable class
            label = np.asarray(self._classes)[outs["probabilities"].argmax(axis=1)]
        else:
            raise InferenceError(
                f"the PMML model returned neither a predicted label nor class probabilities "
                f"(columns: {', '.join(columns)})"
            )
        dtype = self.signature.outputs[0].dtype
        label = label.astype(np.int64) if dtype == "int64" else label.astype(str).astype(object)
        outs["label"] = label
        return outs

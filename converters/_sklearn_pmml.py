"""scikit-learn -> PMML with sklearn2pmml (needs Java, started once per conversion).

The already-fitted estimator is wrapped with ``make_pmml_pipeline`` (never refit).
PMML fields are scalar columns, so the artifact's inputs are one 1-D field per
feature: the DataFrame column names, or ``X_0 .. X_{n-1}`` for an array input
(``adapt_inputs`` splits ``X`` accordingly for validation and documents the mapping).
sklearn2pmml leaves features the model never uses out of the document; they are put
back as declared, unused fields (``converters._pmml_fields``), so the artifact takes
exactly the source model's inputs.
"""

from __future__ import annotations

import contextlib
import shutil
import threading
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from converters._base import ConversionOutput, Sample, Tolerance
from converters._onnx import library_versions
from converters._pmml_fields import keep_every_field
from converters._registry import import_optional
from runtime import Signature, TensorSpec
from runtime.errors import ConversionError

__all__ = ["SklearnToPmml"]

MEDIA_TYPE = "application/xml"
_PMML_CLUSTERERS = frozenset({"KMeans", "MiniBatchKMeans"})

# Both JVMs of a job (sklearn2pmml's converter, pypmml's scorer) live for seconds: the
# client compiler alone, the serial collector and the shared class archive start them
# several times faster than the server defaults, at no cost to what they compute.
JAVA_OPTS = ("-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-Xshare:auto", "-XX:-UsePerfData")


def _start_scorer() -> None:
    """Start pypmml's JVM (the scorer validation uses) while the converter's JVM runs."""
    with contextlib.suppress(Exception):  # validation starts it itself and reports failures
        from pypmml.base import PMMLContext

        PMMLContext.getOrCreate(java_opts=list(JAVA_OPTS))


def _fields(source: Any) -> list[str]:
    if source.columns is not None:
        return [c.name for c in source.columns]
    return [f"X_{i}" for i in range(source.n_features or 0)]


class SklearnToPmml:
    """Fitted classifier/regressor -> ``model.pmml``; validated with the runtime's pypmml loader."""

    framework: ClassVar[str] = "sklearn"
    target: ClassVar[str] = "pmml"
    tolerance: ClassVar[Tolerance] = Tolerance(atol=1e-4, rtol=1e-3)

    def applies(self, source: Any) -> str | None:
        final = source.lineage["final_estimator"]
        if source.kind == "clusterer" and final not in _PMML_CLUSTERERS:
            return (
                f"PMML is not applicable: of the clusterers, sklearn2pmml converts "
                f"{', '.join(sorted(_PMML_CLUSTERERS))}, not {final}"
            )
        if source.kind not in ("classifier", "regressor", "clusterer"):
            return f"PMML is not applicable: a {source.kind} has no scorable PMML model here"
        if source.input_kind != "matrix":
            return (
                f"PMML is not applicable: the model reads {source.input_kind}, and PMML fields "
                "are table columns"
            )
        if source.kind == "classifier" and len(source.signature.outputs[0].shape or ()) > 1:
            return "PMML is not applicable: multi-output classifiers are not supported"
        if source.kind == "regressor" and len(source.signature.outputs[0].shape or ()) > 1:
            return "PMML is not applicable: multi-output regressors are not supported"
        if final in ("SVC", "NuSVC") and source.has_proba:
            return (
                f"PMML is not applicable: {final}(probability=True) probabilities (libsvm "
                "Platt scaling) have no PMML form; the onnx artifact carries them"
            )
        if shutil.which("java") is None:
            return "PMML unavailable: sklearn2pmml needs a Java runtime (8+) on PATH"
        return None

    def adapt_inputs(self, source: Any, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The validation inputs as PMML fields (one 1-D array per field)."""
        if source.columns is not None:
            return {c.name: np.asarray(inputs[c.name]).reshape(-1) for c in source.columns}
        x = np.asarray(inputs["X"])
        return {name: x[:, i] for i, name in enumerate(_fields(source))}

    def convert(self, source: Any, sample: Sample, out_dir: Path) -> ConversionOutput:
        s2p = import_optional("sklearn2pmml", extra="pmml")
        fields = _fields(source)
        targets = None if source.kind == "clusterer" else ["y"]
        try:
            pipeline = s2p.make_pmml_pipeline(
                source.native, active_fields=fields, target_fields=targets
            )
        except Exception as exc:  # noqa: BLE001 - sklearn2pmml raises many types
            what = source.lineage["estimator"]
            raise ConversionError(f"sklearn2pmml cannot wrap {what}: {exc}") from exc
        out_dir.mkdir(parents=True, exist_ok=True)
        dest = out_dir / "model.pmml"
        scorer = threading.Thread(target=_start_scorer, name="pmml-scorer-jvm", daemon=True)
        scorer.start()
        try:
            _run_java(s2p, pipeline, dest)
        except Exception as exc:  # noqa: BLE001 - the Java side reports in the message
            raise ConversionError(_java_reason(exc, source.lineage["estimator"])) from exc
        finally:
            scorer.join()
        dropped = keep_every_field(dest, fields, _field_types(source, fields))
        return ConversionOutput(
            path=dest,
            media_type=MEDIA_TYPE,
            signature=_signature(source, fields),
            converter={
                "name": "sklearn2pmml",
                "versions": library_versions("sklearn2pmml", "scikit-learn", "pypmml"),
                "opset": None,
                "fields": fields,
                "unused_fields": dropped,
            },
        )


def _run_java(s2p: Any, pipeline: Any, dest: Path) -> None:
    """sklearn2pmml once more when Java died without a word (a loaded machine's JVM can
    fail to start); a failure that names its reason is final."""
    try:
        s2p.sklearn2pmml(pipeline, str(dest), java_opts=list(JAVA_OPTS))
    except Exception as exc:  # noqa: BLE001
        if _java_lines(exc):
            raise
        s2p.sklearn2pmml(pipeline, str(dest), java_opts=list(JAVA_OPTS))


def _java_lines(exc: Exception) -> list[str]:
    text = str(exc).strip()
    return [ln for ln in text.splitlines() if "Exception" in ln or "not supported" in ln]


def _java_reason(exc: Exception, estimator: str) -> str:
    text = str(exc).strip()
    lines = [ln for ln in text.splitlines() if "Exception" in ln or "not supported" in ln]
    reason = lines[0].strip() if lines else text[-500:]
    return f"sklearn2pmml failed on {estimator}: {reason}"


def _signature(source: Any, fields: list[str]) -> Signature:
    dtypes = {c.name: c.dtype for c in source.columns or ()}
    inputs = tuple(
        TensorSpec(f, "str" if dtypes.get(f) == "str" else "float64", ("batch",)) for f in fields
    )
    outputs = tuple(
        TensorSpec(o.name, "float64" if o.dtype == "float32" else o.dtype, o.shape)
        for o in source.signature.outputs
        if source.kind != "clusterer" or o.name == "label"
    )
    return Signature(inputs, outputs)


def _field_types(source: Any, fields: list[str]) -> dict[str, str]:
    dtypes = {c.name: c.dtype for c in source.columns or ()}
    return {f: "string" if dtypes.get(f) == "str" else "double" for f in fields}

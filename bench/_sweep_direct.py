"""The converters called by hand, as a user would, for bench/sweep_sklearn.py.

Each function returns ``{"status": "pass" | "fail" | "error" | "n/a", "reason": str}``:
``error`` carries the converter's own words, ``fail`` what differed.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["direct_onnx", "direct_pmml", "references"]

_OPSETS = {"": 18, "ai.onnx.ml": 3}


def _dense(value: Any) -> np.ndarray:
    return np.asarray(value.toarray() if hasattr(value, "toarray") else value)


def references(est: Any, x: Any) -> list[tuple[str, np.ndarray]]:
    """What the estimator answers by hand: predict (+ predict_proba), else transform."""
    from sklearn.base import is_classifier

    refs: list[tuple[str, np.ndarray]] = []
    if hasattr(est, "predict"):
        refs.append(("predict", np.asarray(est.predict(x))))
        if is_classifier(est) and hasattr(est, "predict_proba"):
            proba = est.predict_proba(x)
            if isinstance(proba, np.ndarray):
                refs.append(("predict_proba", proba))
    elif hasattr(est, "transform"):
        refs.append(("transform", _dense(est.transform(x))))
    return refs


def _close(name: str, ref: np.ndarray, got: Any, atol: float, rtol: float) -> str | None:
    got = np.asarray(got)
    if got.size != ref.size:
        return f"{name}: {got.size} values, expected {ref.size}"
    got = got.reshape(ref.shape)
    if ref.dtype.kind in "fc":
        r, g = ref.astype(np.float64), got.astype(np.float64)
        bad = np.abs(r - g) > atol + rtol * np.abs(r)
        bad &= ~(np.isnan(r) & np.isnan(g))
        if np.any(bad):
            diff = float(np.nanmax(np.abs(r - g)))
            return f"{name}: {int(bad.sum())} value(s) differ (max abs diff {diff:.3g})"
        return None
    if np.any(ref.astype(str) != got.astype(str)):
        return f"{name}: {int(np.sum(ref.astype(str) != got.astype(str)))} label(s) differ"
    return None


def _initial_types(x: Any, kind: str) -> list[tuple[str, Any]] | None:
    from skl2onnx.common.data_types import (
        FloatTensorType,
        Int64TensorType,
        StringTensorType,
    )

    if kind == "matrix":
        return [("X", FloatTensorType([None, np.asarray(x).shape[1]]))]
    if kind == "1d":
        return [("X", FloatTensorType([None]))]
    if kind == "labels":
        return [("X", Int64TensorType([None]))]
    if kind == "text":
        return [("X", StringTensorType([None, 1]))]
    return None


def _feed(x: Any, kind: str) -> Any:
    if kind == "matrix":
        return np.asarray(x, dtype=np.float32)
    if kind == "1d":
        return np.asarray(x, dtype=np.float32)
    if kind == "labels":
        return np.asarray(x, dtype=np.int64)
    return np.asarray(x, dtype=object).reshape(-1, 1)


def _by_hand_input(x: Any, kind: str) -> Any:
    """The rows the source sees: the float32 values the ONNX model sees, in float64."""
    if kind in ("matrix", "1d"):
        return np.asarray(x, dtype=np.float32).astype(np.float64)
    return x


def direct_onnx(est: Any, x: Any, kind: str, atol: float, rtol: float) -> dict[str, str]:
    try:
        import onnxruntime as ort
        from skl2onnx import convert_sklearn
        from sklearn.base import is_classifier
    except ImportError as exc:
        return {"status": "error", "reason": f"not installed: {exc}"}
    types = _initial_types(x, kind)
    if types is None:
        return {"status": "n/a", "reason": f"no tensor input type for {kind} inputs by hand"}
    options = {id(est): {"zipmap": False}} if is_classifier(est) else None
    try:
        try:
            onx = convert_sklearn(est, initial_types=types, options=options, target_opset=_OPSETS)
        except Exception:  # noqa: BLE001 - retried as a user would, without options
            if options is None:
                raise
            onx = convert_sklearn(est, initial_types=types, target_opset=_OPSETS)
        sess = ort.InferenceSession(onx.SerializeToString(), providers=["CPUExecutionProvider"])
        got = sess.run(None, {sess.get_inputs()[0].name: _feed(x, kind)})
    except Exception as exc:  # noqa: BLE001 - the converter's words are the result
        return {"status": "error", "reason": f"{type(exc).__name__}: {str(exc)[:300]}"}
    refs = references(est, _by_hand_input(x, kind))
    if not refs:
        return {"status": "n/a", "reason": "no predict or transform to compare with"}
    problems = []
    for i, (name, ref) in enumerate(refs):
        value = got[min(i, len(got) - 1)]
        if isinstance(value, list) and value and isinstance(value[0], dict):
            value = np.array([[row[k] for k in sorted(row)] for row in value])
        problem = _close(name, ref, value, atol, rtol)
        if problem:
            problems.append(problem)
    return {"status": "fail" if problems else "pass", "reason": "; ".join(problems)}


def direct_pmml(est: Any, x: Any, kind: str, atol: float, rtol: float) -> dict[str, str]:
    if kind != "matrix":
        return {"status": "n/a", "reason": f"sklearn2pmml takes DataFrame columns, not {kind}"}
    try:
        import pandas as pd
        from pypmml import Model
        from sklearn.base import is_classifier
        from sklearn2pmml import make_pmml_pipeline, sklearn2pmml
    except ImportError as exc:
        return {"status": "error", "reason": f"not installed: {exc}"}
    x = np.asarray(x, dtype=np.float64)
    fields = [f"x{i}" for i in range(x.shape[1])]
    try:
        with tempfile.TemporaryDirectory(prefix="mp-sweep-pmml-") as tmp:
            path = Path(tmp) / "model.pmml"
            pipe = make_pmml_pipeline(est, active_fields=fields, target_fields=["y"])
            sklearn2pmml(pipe, str(path))
            model = Model.fromFile(str(path))
        model.setSupplementOutput(True)
        result = model.predict(pd.DataFrame(x, columns=fields))
    except Exception as exc:  # noqa: BLE001 - the converter's words are the result
        return {"status": "error", "reason": _java_words(exc)}
    columns = [str(c) for c in result.columns]
    problems = []
    compared = 0
    for name, ref in references(est, x):
        if name == "predict":
            col = next((c for c in ("predicted_y", "cluster", "y") if c in columns), None)
            if col is None:
                problems.append(f"no predicted value among {columns[:6]}")
                continue
            got = result[col].to_numpy()
            problem = _close(name, ref, got, atol, rtol)
        elif name == "predict_proba" and is_classifier(est):
            probs = [f"probability({c})" for c in est.classes_]
            if not all(p in columns for p in probs):
                continue  # a label-only PMML: the label was compared
            problem = _close(name, ref, result[probs].to_numpy(np.float64), atol, rtol)
        else:
            continue
        compared += 1
        if problem:
            problems.append(problem)
    if not compared and not problems:
        return {"status": "n/a", "reason": "the PMML gives no prediction to compare with"}
    return {"status": "fail" if problems else "pass", "reason": "; ".join(problems)}


def _java_words(exc: Exception) -> str:
    text = str(exc).strip()
    lines = [ln.strip() for ln in text.splitlines() if "Exception" in ln or "not supported" in ln]
    return (lines[0] if lines else text[-300:])[:300]

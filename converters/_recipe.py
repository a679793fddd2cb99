"""A reproduction recipe per conversion: a short script that re-runs the conversion and
the comparison by hand, from the version's downloaded source artifact, outside the
registry, with the library versions the registry used.

For scikit-learn the script calls skl2onnx / sklearn2pmml and onnxruntime / pypmml
directly, on rows drawn from the in-domain set's per-feature ranges. For the other
frameworks it calls this package's converter and validation routine in-process (the
same code the registry's worker runs), which is what one debugs there.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from converters._base import ConversionOutput, Sample, SourceModel, Tolerance
from converters._onnx import library_versions

__all__ = ["recipe_for"]

_LIBS = {
    ("sklearn", "onnx"): ("scikit-learn", "skops", "skl2onnx", "onnx", "onnxruntime", "numpy"),
    ("sklearn", "pmml"): ("scikit-learn", "skops", "sklearn2pmml", "pypmml", "pandas", "numpy"),
}


def recipe_for(
    framework: str,
    target: str,
    source: SourceModel,
    sample: Sample,
    tolerance: Tolerance,
    output: ConversionOutput,
) -> dict[str, Any]:
    """``{"filename", "usage", "versions", "pip", "script"}`` for one artifact."""
    libs = _LIBS.get((framework, target), ("modelport", "numpy", "onnxruntime"))
    versions = library_versions(*libs)
    filename = f"reproduce_{target}.py"
    by_hand = getattr(source, "input_kind", "") == "matrix"
    if framework == "sklearn" and target in ("onnx", "pmml") and by_hand:
        body = _sklearn_script(target, source, sample, tolerance, output)
    else:
        body = _generic_script(framework, target, tolerance)
    pins = " ".join(f"{k}=={v}" for k, v in versions.items())
    header = (
        f'"""Re-run the {framework} -> {target} conversion and compare, outside the registry.\n\n'
        f"Usage: python {filename} SOURCE_FILE  (the version's downloaded source artifact)\n"
        f"Library versions the registry used: {pins}\n"
        '"""\n'
    )
    return {
        "filename": filename,
        "usage": f"python {filename} SOURCE_FILE",
        "versions": versions,
        "pip": f"pip install {pins}",
        "script": header + body,
    }


def _domain_spec(source: Any, sample: Sample) -> list[dict[str, Any]]:
    """Per input column: a [lo, hi] range or the categories, from the in-domain set."""
    domain = next((s.inputs for s in sample.sets if s.name == "in-domain"), sample.inputs)
    if source.columns is not None:
        spec = []
        for col in source.columns:
            values = np.asarray(domain[col.name]).reshape(-1)
            spec.append(_column_spec(col.name, values, bool(col.categories)))
        return spec
    x = np.asarray(domain["X"])
    cats = {j for j, d in enumerate(getattr(source, "_domains", None) or []) if d.categories}
    return [_column_spec(f"X_{j}", x[:, j], j in cats) for j in range(x.shape[1])]


def _column_spec(name: str, values: np.ndarray, categorical: bool) -> dict[str, Any]:
    if categorical or values.dtype.kind in "OUSb":
        cats = sorted({v.item() if isinstance(v, np.generic) else v for v in values}, key=str)
        return {"name": name, "categories": cats}
    return {"name": name, "range": [float(values.min()), float(values.max())]}


_SKLEARN_COMMON = """import json
import sys

import numpy as np
import skops.io as sio

path = sys.argv[1]
est = sio.load(path, trusted=sio.get_untrusted_types(file=path))
DOMAIN = json.loads(%(domain)r)
ATOL, RTOL = %(atol)r, %(rtol)r
rng = np.random.default_rng(0)
cols = {}
for d in DOMAIN:
    if "categories" in d:
        pick = rng.integers(0, len(d["categories"]), 32)
        cols[d["name"]] = np.array(d["categories"], dtype=object)[pick]
    else:
        lo, hi = d["range"]
        cols[d["name"]] = lo + (hi - lo) * rng.random(32)
FRAME = %(frame)r  # the model reads named DataFrame columns
if FRAME:
    import pandas as pd

    X = pd.DataFrame({k: v if v.dtype == object else v.astype(np.float32) for k, v in cols.items()})
else:
    X = np.column_stack([cols[d["name"]].astype(np.float64) for d in DOMAIN]).astype(np.float32)
refs = {}
if hasattr(est, "predict"):
    refs["label" if hasattr(est, "classes_") else "variable"] = np.asarray(est.predict(X))
if hasattr(est, "predict_proba") and hasattr(est, "classes_"):
    refs["probabilities"] = np.asarray(est.predict_proba(X))
if not refs and hasattr(est, "transform"):
    out = est.transform(X)
    refs["variable"] = np.asarray(out.toarray() if hasattr(out, "toarray") else out)


def compare(name, ref, got):
    ref, got = np.asarray(ref), np.asarray(got).reshape(np.asarray(ref).shape)
    if ref.dtype.kind in "fc":
        diff = np.abs(ref.astype(np.float64) - got.astype(np.float64))
        bad = int(np.count_nonzero(diff > ATOL + RTOL * np.abs(ref)))
        print(f"{name}: max abs diff {np.nanmax(diff):.3g}, {bad} value(s) beyond tolerance")
    else:
        bad = int(np.count_nonzero(ref.astype(str) != got.astype(str)))
        print(f"{name}: {bad} label(s) differ")
    return bad == 0


"""

_ONNX_PART = """import onnxruntime as ort
from skl2onnx import convert_sklearn
from skl2onnx.common.data_types import FloatTensorType, Int64TensorType, StringTensorType

TYPES = {"float32": FloatTensorType, "int64": Int64TensorType, "str": StringTensorType}
INPUTS = %(inputs)r
initial = [(n, TYPES[t]([None] + shape)) for n, t, shape in INPUTS]
options = {id(est): {"zipmap": False}} if %(zipmap)r else None
opsets = {"": 18, "ai.onnx.ml": 3}
onx = convert_sklearn(est, initial_types=initial, options=options, target_opset=opsets)
sess = ort.InferenceSession(onx.SerializeToString(), providers=["CPUExecutionProvider"])
if FRAME:
    feeds = {
        n: X[n].to_numpy().reshape(-1, 1).astype(object if t == "str" else t) for n, t, _ in INPUTS
    }
else:
    feeds = {"X": X}
got = dict(zip([o.name for o in sess.get_outputs()], sess.run(None, feeds)))
names = list(got)
ok = True
for i, (name, ref) in enumerate(refs.items()):
    ok &= compare(name, ref, got[names[min(i, len(names) - 1)]])
print("OK" if ok else "MISMATCH")
"""

_PMML_PART = """import pandas as pd
from pypmml import Model
from sklearn2pmml import make_pmml_pipeline, sklearn2pmml

FIELDS = %(fields)r
pipe = make_pmml_pipeline(est, active_fields=FIELDS, target_fields=["y"])
sklearn2pmml(pipe, "reproduced.pmml")
model = Model.fromFile("reproduced.pmml")
frame = X if FRAME else pd.DataFrame(np.asarray(X, dtype=np.float64), columns=FIELDS)
model.setSupplementOutput(True)
result = model.predict(frame[[f for f in FIELDS if f in [str(x.name) for x in model.inputFields]]])
ok = True
if "label" in refs:
    ok &= compare("label", refs["label"], result["predicted_y"].to_numpy())
if "probabilities" in refs:
    probs = np.column_stack([result[f"probability({c})"] for c in est.classes_])
    ok &= compare("probabilities", refs["probabilities"], probs)
if "variable" in refs:
    ok &= compare("variable", refs["variable"], result["predicted_y"].to_numpy())
print("OK" if ok else "MISMATCH")
"""


def _sklearn_script(
    target: str, source: Any, sample: Sample, tolerance: Tolerance, output: ConversionOutput
) -> str:
    common = _SKLEARN_COMMON % {
        "domain": json.dumps(_domain_spec(source, sample)),
        "atol": tolerance.atol,
        "rtol": tolerance.rtol,
        "frame": source.columns is not None,
    }
    if target == "onnx":
        inputs = [
            [s.name, s.dtype, [d if isinstance(d, int) else None for d in (s.shape or ())[1:]]]
            for s in source.signature.inputs
        ]
        part = _ONNX_PART % {"inputs": inputs, "zipmap": source.kind == "classifier"}
    else:
        fields = list((output.converter or {}).get("fields") or [])
        part = _PMML_PART % {"fields": fields}
    return common + part


def _generic_script(framework: str, target: str, tolerance: Tolerance) -> str:
    return f"""import sys
from pathlib import Path

from converters import Tolerance, get_converter, get_framework
from converters._domain import input_sets
from converters._base import Sample
from converters._validation import load_artifact, validate

path = Path(sys.argv[1])
source = get_framework({framework!r}).load(path, path.name, {{}})
sets = input_sets(source, None)
domain = next(s.inputs for s in sets if s.name == "in-domain")
sample = Sample(domain, origin="generated", sets=sets)
output = get_converter({framework!r}, {target!r}).convert(source, sample, Path("reproduced"))
report = validate(
    source, load_artifact(output.path, {target!r}), sample,
    Tolerance(atol={tolerance.atol!r}, rtol={tolerance.rtol!r}), fmt={target!r},
)
print(report["summary"])
print("OK" if report["status"] != "failed" else "MISMATCH")
"""

"""The one shared validation routine: source model vs artifact, output by output.

The artifact is loaded through ``runtime.load_file`` (the code users run). Each named
input set (the uploaded ``sample``, generated ``in-domain`` rows, ``batch-1``, the
``extreme`` rows) goes through both; outputs are compared by name, then shape, then
value: labels (integer, bool, string outputs) exactly, floats within
``atol + rtol * |reference|``. The deciding sets give the verdict; the others are run
and reported per output with an explanation (``findings``), never hidden.

The report (``runtime._wire.ValidationReport``, handed on as its JSON; described in
docs/validation.md) gives, per output, the max absolute and relative difference, the
mismatch count, the number of values compared, the tolerance and the verdict, for all
deciding sets together and for each set.
A report whose reference outputs are all (near) constant is ``weak``: equal outputs of a
constant model prove little.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from converters._base import InputSet, Sample, SourceModel, Tolerance
from converters._findings import error_finding, set_findings
from runtime._wire import (
    Finding,
    OutputReport,
    SampleBatch,
    SampleInfo,
    SetReport,
    ValidationReport,
)
from runtime._wire import Tolerance as ToleranceDoc

__all__ = ["OutputStats", "load_artifact", "make_batches", "make_sets", "validate"]

_WEAK_STD = 1e-6


def load_artifact(path: Path, fmt: str) -> Any:
    """Load an artifact with the runtime's own loader (``runtime.load_file``).

    ONNX artifacts skip the optimised-graph cache: a candidate artifact is not worth
    caching, and a worker must not write into a cache folder of the user running it.
    A user's first load optimises from the artifact exactly like this; later loads open
    the cached graph, whose outputs are bit-identical (tests/runtime/test_graph_cache.py).
    """
    import runtime

    if fmt == "onnx":
        return runtime.load_file(path, format=fmt, graph_cache=False)
    return runtime.load_file(path, format=fmt)


def make_sets(sample: Sample) -> list[InputSet]:
    """The named sets validation runs: ``sample.sets``, or the whole sample and its first
    row alone (both deciding) when the sample carries no sets."""
    if sample.sets:
        return list(sample.sets)
    inputs = sample.inputs
    first = {k: v[:1] for k, v in inputs.items()}
    return [
        InputSet(sample.origin, inputs, True, sample.origin),
        InputSet("batch-1", first, True, f"the first row of {sample.origin} alone"),
    ]


def make_batches(sample: Sample) -> list[tuple[str, dict[str, Any]]]:
    """(name, inputs) of every set validation runs (see ``make_sets``)."""
    return [(s.name, s.inputs) for s in make_sets(sample)]


@dataclass
class OutputStats:
    """Accumulated comparison of one output across batches."""

    name: str
    exact: bool
    tolerance: Tolerance
    max_abs: float = 0.0
    max_rel: float = 0.0
    mismatches: int = 0
    samples: int = 0
    reasons: list[str] = field(default_factory=list)
    refs: list[np.ndarray] = field(default_factory=list)
    dtype: str = ""
    shape: list[int] = field(default_factory=list)

    def add(self, batch: str, ref: np.ndarray, got: np.ndarray) -> None:
        self.refs.append(ref)
        if not self.dtype:
            self.dtype, self.shape = str(ref.dtype), list(ref.shape)
        self.samples += int(ref.size)
        if got.shape != ref.shape:
            self.mismatches += int(ref.size)
            self.reasons.append(f"{batch}: shape {list(got.shape)} != source {list(ref.shape)}")
            return
        if self.exact:
            self._add_exact(batch, ref, got)
        else:
            self._add_close(batch, ref, got)

    def _add_exact(self, batch: str, ref: np.ndarray, got: np.ndarray) -> None:
        if ref.dtype.kind in "OUS" or got.dtype.kind in "OUS":
            same = ref.astype(str) == got.astype(str)
        else:
            same = ref == got
        bad = int(same.size - np.count_nonzero(same))
        if bad:
            self.mismatches += bad
            self.reasons.append(f"{batch}: {bad} label(s) differ")
            if ref.dtype.kind in "biuf" and got.dtype.kind in "biuf":
                self.max_abs = max(self.max_abs, float(np.max(np.abs(ref - got.astype(ref.dtype)))))

    def _add_close(self, batch: str, ref: np.ndarray, got: np.ndarray) -> None:
        r = ref.astype(np.float64)
        g = got.astype(np.float64)
        both_nan = np.isnan(r) & np.isnan(g)
        diff = np.where(both_nan, 0.0, np.abs(r - g))
        diff = np.where(np.isnan(diff), np.inf, diff)
        if diff.size:
            rel = diff / np.maximum(np.abs(r), np.finfo(np.float64).tiny)
            rel = np.where(diff == 0, 0.0, rel)
            self.max_abs = max(self.max_abs, float(np.max(diff)))
            self.max_rel = max(self.max_rel, float(np.max(rel)))
        tol = self.tolerance
        bad = int(np.count_nonzero(diff > tol.atol + tol.rtol * np.abs(np.nan_to_num(r))))
        if bad:
            self.mismatches += bad
            self.reasons.append(f"{batch}: {bad} value(s) beyond atol={tol.atol} rtol={tol.rtol}")

    def weak(self) -> bool:
        """True when the reference values hardly vary across rows."""
        refs = [r for r in self.refs if r.ndim and r.shape[0] > 1]
        if not refs:
            return False
        ref = refs[0]
        if self.exact or ref.dtype.kind not in "fc":
            flat = ref.reshape(ref.shape[0], -1)
            return bool(np.all(flat == flat[:1]))
        flat = ref.reshape(ref.shape[0], -1).astype(np.float64)
        flat = flat[np.all(np.isfinite(flat), axis=1)]
        if flat.shape[0] < 2:
            return False
        scale = 1.0 + float(np.mean(np.abs(flat)))
        return bool(np.max(np.std(flat, axis=0)) <= _WEAK_STD * scale)

    def report(self) -> OutputReport:
        return OutputReport(
            name=self.name,
            compare="exact" if self.exact else "allclose",
            dtype=self.dtype,
            shape=tuple(self.shape),
            max_abs_diff=_num(self.max_abs),
            max_rel_diff=_num(self.max_rel),
            mismatches=self.mismatches,
            samples=self.samples,
            tolerance=None if self.exact else _tolerance(self.tolerance),
            passed=self.mismatches == 0 and not self.reasons,
            weak=self.weak(),
            reasons=tuple(self.reasons),
        )


def _tolerance(tolerance: Tolerance) -> ToleranceDoc:
    return ToleranceDoc(atol=tolerance.atol, rtol=tolerance.rtol)


def _num(x: float) -> float | str:
    """JSON-safe number: non-finite values become the strings "inf" / "nan"."""
    return float(x) if np.isfinite(x) else str(x)


def _is_label(values: np.ndarray) -> bool:
    return values.dtype.kind in "biuOUS"


def _as_array(value: Any) -> np.ndarray:
    if isinstance(value, list) and value and isinstance(value[0], dict):
        keys = sorted(value[0])
        return np.array([[row[k] for k in keys] for row in value])
    return np.asarray(value)


def validate(
    source: SourceModel,
    artifact: Any,
    sample: Sample,
    tolerance: Tolerance,
    *,
    adapt: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    loader: str = "runtime.load_file",
    fmt: str = "",
) -> dict[str, Any]:
    """Compare ``source`` with a loaded ``artifact`` (anything with ``run(inputs) -> dict``).

    ``adapt`` turns the source's named inputs into the artifact's when a format lays
    them out differently (PMML: one field per column). Every set of ``sample`` runs;
    the deciding sets give the ``status`` (``passed``, ``weak`` or ``failed``), the
    others are reported per output under ``findings`` with a plain explanation. An
    output the artifact lacks is listed in ``missing_outputs``; the artifact passes for
    the outputs it has. Nothing is raised for a mismatch: the caller stores the report.
    """
    overall: dict[str, OutputStats] = {}
    missing: set[str] = set()
    sets: list[SetReport] = []
    findings: list[Finding] = []
    for input_set in make_sets(sample):
        if input_set.decides:
            own, _ = _run_set(source, artifact, input_set, tolerance, adapt, missing, overall)
            sets.append(_set_report(input_set, own))
            continue
        try:
            own, pairs = _run_set(source, artifact, input_set, tolerance, adapt, set(), None)
        except Exception as exc:  # noqa: BLE001 - a reported set never decides
            sets.append(_set_report(input_set, {}, error=f"{type(exc).__name__}: {exc}"))
            findings.append(error_finding(input_set, fmt, exc))
            continue
        sets.append(_set_report(input_set, own))
        findings.extend(set_findings(input_set, fmt, own, pairs))
    outputs = [s.report() for s in overall.values()]
    report = _report(outputs, sorted(missing), sample, sets, findings, tolerance, loader)
    return report.to_json()


def _run_set(
    source: SourceModel,
    artifact: Any,
    input_set: InputSet,
    tolerance: Tolerance,
    adapt: Callable[[dict[str, Any]], dict[str, Any]] | None,
    missing: set[str],
    overall: dict[str, OutputStats] | None,
) -> tuple[dict[str, OutputStats], dict[str, tuple[np.ndarray, np.ndarray]]]:
    inputs = input_set.inputs
    ref = {k: _as_array(v) for k, v in source.predict(inputs).items()}
    got_raw = artifact.run(adapt(inputs) if adapt else inputs)
    own: dict[str, OutputStats] = {}
    pairs: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for name, ref_value in ref.items():
        if name not in got_raw:
            missing.add(name)
            continue
        got = _as_array(got_raw[name])
        exact = _is_label(ref_value)
        own.setdefault(name, OutputStats(name, exact, tolerance)).add(
            input_set.name, ref_value, got
        )
        if overall is not None:
            overall.setdefault(name, OutputStats(name, exact, tolerance)).add(
                input_set.name, ref_value, got
            )
        pairs[name] = (ref_value, got)
    return own, pairs


def _set_report(
    input_set: InputSet, own: dict[str, OutputStats], error: str | None = None
) -> SetReport:
    outputs = tuple(s.report() for s in own.values())
    if error is not None:
        status = "error"
    elif input_set.decides:
        status = "passed" if outputs and all(o.passed for o in outputs) else "failed"
    else:
        status = "agrees" if all(o.passed for o in outputs) else "diverges"
    return SetReport(
        name=input_set.name,
        role="decides" if input_set.decides else "reported",
        origin=input_set.origin,
        rows=input_set.rows,
        status=status,
        error=error,
        outputs=outputs,
    )


def _report(
    outputs: list[OutputReport],
    missing: list[str],
    sample: Sample,
    sets: list[SetReport],
    findings: list[Finding],
    tolerance: Tolerance,
    loader: str,
) -> ValidationReport:
    passed = bool(outputs) and all(o.passed for o in outputs)
    weak = passed and all(o.weak for o in outputs)
    status = "failed" if not passed else ("weak" if weak else "passed")
    deciding = [s.name for s in sets if s.decides]
    max_abs = max((float(o.max_abs_diff) for o in outputs), default=0.0)
    summary = f"{status} on {' + '.join(deciding)}, max abs diff {max_abs:.3g}"
    if missing:
        summary += f"; the artifact has no {', '.join(missing)} output (compared the others)"
    failing = [o.name for o in outputs if not o.passed]
    if failing:
        bad_sets = [s.name for s in sets if s.decides and s.status == "failed"]
        summary += f"; mismatch in {', '.join(failing)} on {', '.join(bad_sets)}"
    if weak:
        summary += "; reference outputs are (near) constant, so equality proves little"
    diverging = sorted({f.set for f in findings if f.status != "agrees"})
    if diverging:
        summary += f"; diverges on the {', '.join(diverging)} set (reported, not deciding)"
    return ValidationReport(
        status=status,
        passed=passed,
        weak=weak,
        summary=summary,
        decided_by=tuple(deciding),
        loader=loader,
        tolerance=_tolerance(tolerance),
        sample=SampleInfo(
            origin=sample.origin,
            rows=sample.rows,
            batches=tuple(SampleBatch(name=s.name, rows=s.rows) for s in sets),
        ),
        outputs=tuple(outputs),
        missing_outputs=tuple(missing),
        sets=tuple(sets),
        findings=tuple(findings),
    )

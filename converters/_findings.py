"""Plain explanations of how an artifact behaves on a reported (non-deciding) input set.

The extreme set feeds magnitudes far outside the data a model was fitted on. Formats
differ there for known reasons (float32 arithmetic, an evaluator's softmax that
overflows); each output gets one finding saying whether the artifact agrees and, when
it does not, why in words a user can act on.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Protocol

import numpy as np

from runtime._wire import Finding, OutputReport

if TYPE_CHECKING:
    from converters._base import InputSet

__all__ = ["ComparedOutput", "error_finding", "magnitude", "set_findings"]


class ComparedOutput(Protocol):
    """What a finding reads of one output's comparison (``_validation.OutputStats``)."""

    exact: bool

    def report(self) -> OutputReport: ...


def magnitude(input_set: InputSet) -> float:
    """The largest finite absolute input value of a set (0 when it has no numbers)."""
    top = 0.0
    for value in input_set.inputs.values():
        arr = np.asarray(value)
        if arr.dtype.kind in "fiu" and arr.size:
            finite = np.abs(arr[np.isfinite(arr)]) if arr.dtype.kind == "f" else np.abs(arr)
            if finite.size:
                top = max(top, float(np.max(finite)))
    return top


def set_findings(
    input_set: InputSet,
    fmt: str,
    own: Mapping[str, ComparedOutput],
    pairs: dict[str, tuple[np.ndarray, np.ndarray]],
) -> list[Finding]:
    """One finding per compared output of a reported set."""
    scale = magnitude(input_set)
    overflowing = [
        n
        for n, (ref, got) in pairs.items()
        if got.shape == ref.shape and _non_finite(got) > _non_finite(ref)
    ]
    out = []
    for name, stats in own.items():
        figures = stats.report()
        ref, got = pairs[name]
        out.append(
            Finding(
                set=input_set.name,
                output=name,
                status="agrees" if figures.passed else "diverges",
                mismatches=figures.mismatches,
                samples=figures.samples,
                max_abs_diff=figures.max_abs_diff,
                max_rel_diff=figures.max_rel_diff,
                explanation=_explain(
                    fmt, name, ref, got, stats.exact, scale, figures.passed, overflowing
                ),
            )
        )
    return out


def error_finding(input_set: InputSet, fmt: str, exc: BaseException) -> Finding:
    """The finding of a reported set that could not run at all (no output, no figures)."""
    what = f"the {fmt} artifact" if fmt else "the artifact"
    return Finding(
        set=input_set.name,
        status="error",
        explanation=(
            f"{what} or the source model could not run the {input_set.name} rows "
            f"(|x| up to {magnitude(input_set):.0e}): {type(exc).__name__}: {exc}"
        ),
    )


def _where(scale: float) -> str:
    from converters._domain import EXTREME

    return f"beyond |x| ≈ {EXTREME:.0e} (up to {scale:.0e})" if scale else "on these rows"


def _non_finite(values: np.ndarray) -> int:
    if values.dtype.kind not in "fc":
        return 0
    return int(np.count_nonzero(~np.isfinite(values)))


def _explain(
    fmt: str,
    name: str,
    ref: np.ndarray,
    got: np.ndarray,
    exact: bool,
    scale: float,
    agrees: bool,
    overflowing: list[str],
) -> str:
    where = _where(scale)
    if agrees:
        return f"agrees with the source {where}"
    if got.shape != ref.shape:
        return f"output shape {list(got.shape)} differs from the source's {list(ref.shape)}"
    bad_got, bad_ref = _non_finite(got), _non_finite(ref)
    if bad_got > bad_ref:
        return _overflow(fmt, name, bad_got, where)
    if bad_ref > bad_got:
        return (
            f"the source model itself returns {bad_ref} NaN/inf value(s) {where}, "
            "where the artifact returns numbers: the source overflows, not the artifact"
        )
    others = [o for o in overflowing if o != name]
    if exact and others:
        return (
            f"labels differ {where}: they follow the {', '.join(others)} output, "
            "which overflows there (see its finding)"
        )
    if exact:
        return (
            f"labels differ {where}: far outside the training data the class scores are "
            "huge and nearly tied, and the artifact computes them in float32 where the "
            "source uses float64, so rounding picks the other class"
        )
    return (
        f"differs {where}: at these magnitudes float32 arithmetic in the artifact loses "
        "the precision the float64 source keeps"
    )


def _overflow(fmt: str, name: str, count: int, where: str) -> str:
    head = f"diverges {where}: the artifact returns {count} NaN/inf value(s) where the source"
    if fmt == "pmml" and name in ("probabilities", "label"):
        return f"{head} is finite; the PMML evaluator's softmax overflows (exp of huge scores)"
    return f"{head} is finite; an exponential or a sum overflows in the artifact's float type"

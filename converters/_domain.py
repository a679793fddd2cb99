"""The named input sets validation runs, built from what the model and the upload tell.

* ``sample``: the uploaded sample as given (deciding);
* ``in-domain``: generated rows inside the data's domain (deciding). A source that
  knows its domain (``domain_inputs``, e.g. a fitted scikit-learn estimator) builds
  them; otherwise rows are drawn within the uploaded sample's value range, or, with no
  sample, from the source's own generator (``generate_inputs``);
* ``batch-1``: the first row of the sample (or of the in-domain rows) alone (deciding);
* ``extreme``: zeros and magnitudes around 1e3 in every continuous input (reported
  per output, never deciding: formats legitimately part ways far outside the data).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from converters._base import InputSet, SourceModel
from converters._samples import MIN_ROWS

__all__ = [
    "DOMAIN_ROWS",
    "EXTREME",
    "extreme_rows",
    "in_domain_inputs",
    "input_sets",
    "within_range",
]

EXTREME = 1.0e3
DOMAIN_ROWS = 256  # rows of a model-aware in-domain set (cheap for tabular models)


def input_sets(source: SourceModel, uploaded: dict[str, np.ndarray] | None) -> tuple[InputSet, ...]:
    """Every set for ``source``; ``uploaded`` is the user's sample (or None)."""
    domain, origin = in_domain_inputs(source, uploaded)
    sets: list[InputSet] = []
    if uploaded is not None:
        sets.append(InputSet("sample", uploaded, True, "uploaded with the model"))
    sets.append(InputSet("in-domain", domain, True, origin))
    first_of = uploaded if uploaded is not None else domain
    sets.append(
        InputSet(
            "batch-1",
            {k: v[:1] for k, v in first_of.items()},
            True,
            f"the first row of the {'sample' if uploaded is not None else 'in-domain set'} alone",
        )
    )
    hook = getattr(source, "extreme_inputs", None)
    extreme = hook(domain, seed=1) if hook is not None else extreme_rows(domain, seed=1)
    if extreme is not None:
        sets.append(
            InputSet(
                "extreme",
                extreme,
                False,
                f"zeros and magnitudes around ±{EXTREME:.0e} in every continuous input",
            )
        )
    return tuple(sets)


def in_domain_inputs(
    source: SourceModel, uploaded: dict[str, np.ndarray] | None, seed: int = 0
) -> tuple[dict[str, Any], str]:
    """The in-domain rows of ``source`` and where they come from, in words."""
    hook = getattr(source, "domain_inputs", None)
    if hook is not None:
        inputs, origin = hook(DOMAIN_ROWS, seed=seed, sample=uploaded)
        return inputs, str(origin)
    if uploaded is not None:
        return (
            within_range(uploaded, MIN_ROWS, seed=seed),
            "drawn within the uploaded sample's range",
        )
    return (
        source.generate_inputs(MIN_ROWS, seed=seed),
        "generated from the signature (no sample uploaded, no domain known)",
    )


def within_range(sample: dict[str, np.ndarray], rows: int, seed: int = 0) -> dict[str, np.ndarray]:
    """``rows`` new rows per input, each value inside the sample's per-position range.

    Float inputs are drawn uniformly between the sample's minimum and maximum at each
    position; integer inputs likewise as integers; other inputs (strings, booleans)
    repeat the sample's own rows.
    """
    rng = np.random.default_rng(seed)
    out: dict[str, np.ndarray] = {}
    for name, value in sample.items():
        arr = np.asarray(value)
        if arr.ndim == 0 or len(arr) == 0:
            out[name] = arr
            continue
        shape = (rows, *arr.shape[1:])
        if arr.dtype.kind == "f":
            finite = np.where(np.isfinite(arr), arr, 0.0)
            lo, hi = finite.min(axis=0), finite.max(axis=0)
            out[name] = (lo + (hi - lo) * rng.random(shape)).astype(arr.dtype)
        elif arr.dtype.kind in "iu":
            lo_i, hi_i = arr.min(axis=0), arr.max(axis=0)
            out[name] = rng.integers(lo_i, hi_i + 1, size=shape).astype(arr.dtype)
        else:
            out[name] = arr[rng.integers(0, len(arr), size=rows)]
    return out


def extreme_rows(
    domain: dict[str, Any], seed: int = 1, keep: frozenset[str] = frozenset()
) -> dict[str, np.ndarray] | None:
    """The in-domain rows with every float input (not in ``keep``) pushed far out.

    Row 0 is zeros, rows 1 and 2 are +/-EXTREME, the rest normal values times EXTREME.
    None when no input is continuous (nothing can be pushed out).
    """
    rng = np.random.default_rng(seed)
    out: dict[str, np.ndarray] = {}
    pushed = False
    for name, value in domain.items():
        arr = np.asarray(value)
        if arr.dtype.kind != "f" or name in keep or arr.ndim == 0 or len(arr) < 3:
            out[name] = arr
            continue
        x = rng.standard_normal(arr.shape) * EXTREME
        x[0], x[1], x[2] = 0.0, EXTREME, -EXTREME
        out[name] = x.astype(arr.dtype)
        pushed = True
    return out if pushed else None

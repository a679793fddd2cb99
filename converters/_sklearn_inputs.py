"""In-domain and extreme validation rows for a scikit-learn source.

The uploaded sample decides first (rows drawn within its per-feature range, its own
values for categorical features); without one, what the fitted estimator knows
(``converters._sklearn_domain``). The extreme rows push only continuous features out:
a category stays a category, so the source model can still answer.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from converters._domain import extreme_rows, within_range
from converters._sklearn_domain import (
    FeatureDomain,
    column_transformer,
    domain_matrix,
    feature_domains,
)

__all__ = ["sklearn_domain_inputs", "sklearn_extreme_inputs"]


def sklearn_domain_inputs(
    source: Any, rows: int, seed: int, sample: dict[str, np.ndarray] | None
) -> tuple[dict[str, np.ndarray], str]:
    rng = np.random.default_rng(seed)
    if source.input_kind in ("labels", "text", "dict"):
        return _token_inputs(source, rows, rng, sample)
    if source.columns is not None:
        return _column_inputs(source, rows, rng, sample)
    domains = _x_domains(source)
    if sample is not None:
        return {"X": _x_from_sample(sample["X"], domains, rows, rng)}, (
            "drawn within the uploaded sample's per-feature range"
        )
    x = domain_matrix(domains, rows, rng).astype(np.float32)
    return {"X": x}, _describe(domains)


def sklearn_extreme_inputs(
    source: Any, domain: dict[str, np.ndarray], seed: int
) -> dict[str, np.ndarray] | None:
    if source.input_kind != "matrix":
        return None  # labels and words have no magnitude to push out
    if source.columns is not None:
        keep = frozenset(c.name for c in source.columns if c.categories)
        return extreme_rows(domain, seed, keep)
    domains = _x_domains(source)
    cats = [j for j, d in enumerate(domains) if d.categories is not None]
    pushed = extreme_rows(domain, seed)
    if pushed is None or not cats:
        return pushed
    if len(cats) == len(domains):
        return None  # every feature is categorical: nothing continuous to push out
    x = pushed["X"].copy()
    x[:, cats] = np.asarray(domain["X"])[:, cats]
    return {"X": x}


_WORDS = ("alpha", "beta", "gamma", "delta", "red", "green", "blue", "big", "small")


def _token_inputs(
    source: Any, rows: int, rng: np.random.Generator, sample: dict[str, np.ndarray] | None
) -> tuple[dict[str, np.ndarray], str]:
    """Labels from ``classes_``, or documents from the fitted vocabulary (or the sample)."""
    spec = source.signature.inputs[0]
    if sample is not None:
        values = np.asarray(sample["X"])
        return {"X": values[rng.integers(0, len(values), size=rows)]}, (
            "rows of the uploaded sample, drawn again"
        )
    if source.input_kind == "labels":
        classes = np.asarray(source.native.classes_)
        picked = classes[rng.integers(0, len(classes), size=rows)]
        dtype = object if spec.dtype == "str" else spec.dtype
        return {"X": picked.astype(dtype)}, "the fitted classes_ (labels the model knows)"
    vocab = getattr(source.native, "vocabulary_", None)
    words = np.array(sorted(vocab)[:200] if vocab else _WORDS, dtype=object)
    docs = [" ".join(words[rng.integers(0, len(words), size=5)]) for _ in range(rows)]
    origin = "documents of words from the fitted vocabulary_" if vocab else "documents of words"
    return {"X": np.array(docs, dtype=object).reshape(rows, 1)}, origin


def _x_domains(source: Any) -> list[FeatureDomain]:
    cached = getattr(source, "_domains", None)
    if cached is None:
        cached = feature_domains(source.native, source.n_features or 0)
        source._domains = cached
    return list(cached)


def _x_from_sample(
    x: np.ndarray, domains: list[FeatureDomain], rows: int, rng: np.random.Generator
) -> np.ndarray:
    out = within_range({"X": x}, rows, seed=int(rng.integers(1 << 30)))["X"]
    for j, d in enumerate(domains[: x.shape[1]]):
        if d.categories is not None:
            seen = np.unique(x[:, j])
            out[:, j] = seen[rng.integers(0, len(seen), size=rows)]
    return out


def _describe(domains: list[FeatureDomain]) -> str:
    known = [d for d in domains if d.known]
    if not known:
        return "generated: standard normal values (the model tells no feature range)"
    why = sorted({s for d in known for s in d.sources} | _kinds(known))
    return (
        f"generated inside the model's domain for {len(known)} of {len(domains)} "
        f"feature(s) (from {', '.join(why)}), standard normal for the rest"
        if len(known) < len(domains)
        else f"generated inside the model's domain (from {', '.join(why)})"
    )


def _kinds(domains: list[FeatureDomain]) -> set[str]:
    out = set()
    if any(d.categories is not None for d in domains):
        out.add("categories")
    if any(d.nonneg for d in domains):
        out.add("non-negative inputs")
    return out


def _column_inputs(
    source: Any, rows: int, rng: np.random.Generator, sample: dict[str, np.ndarray] | None
) -> tuple[dict[str, np.ndarray], str]:
    numeric = _column_domains(source)
    out: dict[str, np.ndarray] = {}
    for col in source.columns:
        if col.categories:
            values = np.array(col.categories, dtype=object)
            picked = values[rng.integers(0, len(values), size=rows)]
            out[col.name] = picked.astype(object if col.dtype == "str" else col.dtype)
        elif sample is not None and col.name in sample:
            out[col.name] = within_range({"c": sample[col.name]}, rows, int(rng.integers(1 << 30)))[
                "c"
            ].reshape(-1)
        else:
            d = numeric.get(col.name, FeatureDomain())
            out[col.name] = domain_matrix([d], rows, rng)[:, 0].astype(col.dtype)
        out[col.name] = np.asarray(out[col.name]).reshape(rows, 1)
    origin = (
        "drawn within the uploaded sample's range (categories from the encoders)"
        if sample is not None
        else "generated inside the model's domain (encoder categories, scaler statistics)"
    )
    return out, origin


def _column_domains(source: Any) -> dict[str, FeatureDomain]:
    """Domains of the numeric DataFrame columns, from the transformer that reads each."""
    ct = column_transformer(source.native)
    out: dict[str, FeatureDomain] = {}
    if ct is None:
        return out
    for _, trans, cols in getattr(ct, "transformers_", []):
        if isinstance(trans, str) or not isinstance(cols, list | tuple | np.ndarray):
            continue
        names = [str(c) for c in cols]
        if not all(isinstance(c, str) for c in cols):
            continue
        for name, d in zip(names, feature_domains(trans, len(names)), strict=True):
            out[name] = d
    return out

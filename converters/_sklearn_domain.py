"""What a fitted scikit-learn estimator knows about the domain of its input features.

Only the estimators that see the raw input count: the first step of a pipeline, the
members of an ensemble or a union, the wrapped estimator of a meta-estimator (through
its feature mask or subsets). From them come, per feature:

* categories (``categories_`` of encoders, ``n_categories_`` of ``CategoricalNB``);
* a value range: scalers' statistics, tree split thresholds, class means and
  variances, cluster centres, stored training rows, support vectors, bin edges;
* non-negativity (count models: ``MultinomialNB``, ``ComplementNB``, ``chi2``-style
  inputs) and binary inputs (``BernoulliNB`` without a threshold).

Features nothing speaks about are drawn from a standard normal, as before.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["FeatureDomain", "column_transformer", "domain_matrix", "feature_domains"]

_SPREAD = 2.0  # standard deviations either side of a mean


@dataclass
class FeatureDomain:
    """The known domain of one input feature."""

    lo: float | None = None
    hi: float | None = None
    categories: tuple[Any, ...] | None = None
    nonneg: bool = False
    sources: list[str] = field(default_factory=list)

    def widen(self, lo: float, hi: float, why: str) -> None:
        if not (np.isfinite(lo) and np.isfinite(hi)):
            return
        self.lo = lo if self.lo is None else min(self.lo, lo)
        self.hi = hi if self.hi is None else max(self.hi, hi)
        if why not in self.sources:
            self.sources.append(why)

    @property
    def known(self) -> bool:
        return self.categories is not None or self.lo is not None or self.nonneg


def feature_domains(est: Any, n: int) -> list[FeatureDomain]:
    """The domain of each of the ``n`` raw input features of ``est``."""
    domains = [FeatureDomain() for _ in range(n)]
    _visit(est, list(range(n)), domains, depth=0)
    return domains


def domain_matrix(domains: list[FeatureDomain], rows: int, rng: np.random.Generator) -> np.ndarray:
    """``rows`` x ``len(domains)`` float rows inside each feature's domain."""
    x = np.empty((rows, len(domains)), dtype=np.float64)
    for j, d in enumerate(domains):
        x[:, j] = _column(d, rows, rng)
    return x


def _column(d: FeatureDomain, rows: int, rng: np.random.Generator) -> np.ndarray:
    if d.categories is not None and len(d.categories):
        values = np.asarray(d.categories, dtype=np.float64)
        return values[rng.integers(0, len(values), size=rows)]
    if d.lo is not None and d.hi is not None:
        lo, hi = d.lo, d.hi
        if d.nonneg:
            lo = max(lo, 0.0)
            hi = max(hi, lo)
        if hi - lo < 1e-9:
            lo, hi = lo - 0.5, hi + 0.5
            lo = max(lo, 0.0) if d.nonneg else lo
        return lo + (hi - lo) * rng.random(rows)
    if d.nonneg:
        return np.abs(rng.standard_normal(rows)) * 2.0
    return rng.standard_normal(rows)


def _visit(est: Any, cols: list[int], domains: list[FeatureDomain], depth: int) -> None:
    """Record what ``est`` (which sees the raw features ``cols``) tells about them."""
    if est is None or isinstance(est, str) or depth > 8:
        return
    _own_knowledge(est, cols, domains)
    for child, child_cols in _children(est, cols):
        _visit(child, child_cols, domains, depth + 1)


def _children(est: Any, cols: list[int]) -> Iterator[tuple[Any, list[int]]]:
    """The estimators inside ``est`` that see (a subset of) its raw input."""
    from sklearn.pipeline import FeatureUnion, Pipeline

    if isinstance(est, Pipeline):
        first = next((s for _, s in est.steps if s not in (None, "passthrough")), None)
        if first is not None:
            yield first, cols
        return
    if isinstance(est, FeatureUnion):
        for _, trans in est.transformer_list:
            yield trans, cols
        return
    yield from _array_column_children(est, cols)
    yield from _member_children(est, cols)


def _array_column_children(est: Any, cols: list[int]) -> Iterator[tuple[Any, list[int]]]:
    from sklearn.compose import ColumnTransformer

    if not isinstance(est, ColumnTransformer):
        return
    for _, trans, selected in getattr(est, "transformers_", []):
        idx = np.arange(len(cols))[selected] if not isinstance(selected, str) else None
        if idx is None or isinstance(trans, str):
            continue
        try:
            yield trans, [cols[int(i)] for i in np.atleast_1d(idx)]
        except (IndexError, TypeError, ValueError):
            continue


def _member_children(est: Any, cols: list[int]) -> Iterator[tuple[Any, list[int]]]:
    mask = getattr(est, "support_", None)  # RFE, RFECV, SequentialFeatureSelector
    inner = getattr(est, "estimator_", None)
    if inner is not None:
        if mask is not None and np.asarray(mask).dtype == bool and len(mask) == len(cols):
            yield inner, [c for c, keep in zip(cols, mask, strict=True) if keep]
        elif not hasattr(est, "final_estimator_"):
            yield inner, cols
    members = getattr(est, "estimators_", None)
    if members is None or hasattr(est, "final_estimator_") and not _stacking(est):
        return
    subsets = getattr(est, "estimators_features_", None)
    flat = list(np.asarray(members, dtype=object).ravel()) if _array_like(members) else []
    for i, member in enumerate(flat[:64]):
        if subsets is not None and i < len(subsets):
            yield member, [cols[int(j)] for j in subsets[i]]
        else:
            yield member, cols


def _stacking(est: Any) -> bool:
    return hasattr(est, "stack_method_")


def _array_like(value: Any) -> bool:
    return isinstance(value, list | tuple | np.ndarray)


def _own_knowledge(est: Any, cols: list[int], domains: list[FeatureDomain]) -> None:
    name = type(est).__name__
    for reader in _READERS:
        reader(est, name, cols, domains)


def _per_feature(values: Any, cols: list[int]) -> np.ndarray | None:
    if values is None:
        return None
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1 or len(arr) != len(cols):
        return None
    return arr


def _ranges(lo: Any, hi: Any, cols: list[int], domains: list[FeatureDomain], why: str) -> None:
    lo_a, hi_a = _per_feature(lo, cols), _per_feature(hi, cols)
    if lo_a is None or hi_a is None:
        return
    for c, a, b in zip(cols, lo_a, hi_a, strict=True):
        domains[c].widen(float(a), float(b), why)


def _scalers(est: Any, name: str, cols: list[int], domains: list[FeatureDomain]) -> None:
    if name == "MinMaxScaler":
        _ranges(est.data_min_, est.data_max_, cols, domains, name)
    elif name == "MaxAbsScaler":
        m = _per_feature(est.max_abs_, cols)
        if m is not None:
            _ranges(-m, m, cols, domains, name)
    elif name in ("StandardScaler", "RobustScaler"):
        center = getattr(est, "mean_", None) if name == "StandardScaler" else est.center_
        scale = est.scale_
        c = _per_feature(center, cols) if center is not None else np.zeros(len(cols))
        s = _per_feature(scale, cols) if scale is not None else np.ones(len(cols))
        if c is not None and s is not None:
            _ranges(c - _SPREAD * s, c + _SPREAD * s, cols, domains, name)
    elif name == "KBinsDiscretizer":
        edges = est.bin_edges_
        _ranges([e[0] for e in edges], [e[-1] for e in edges], cols, domains, name)
    elif name == "QuantileTransformer":
        q = np.asarray(est.quantiles_)
        _ranges(q.min(axis=0), q.max(axis=0), cols, domains, name)
    elif name == "PowerTransformer" and getattr(est, "method", "") == "box-cox":
        for col in cols:
            domains[col].nonneg = True
            domains[col].widen(0.1, 3.0, "PowerTransformer(box-cox) needs x > 0")


def _encoders(est: Any, name: str, cols: list[int], domains: list[FeatureDomain]) -> None:
    cats = getattr(est, "categories_", None)
    if cats is not None and len(cats) == len(cols) and name != "CategoricalNB":
        for c, values in zip(cols, cats, strict=True):
            arr = np.asarray(values)
            if arr.dtype.kind in "biuf":
                kept = arr[np.isfinite(arr.astype(np.float64))]
                domains[c].categories = tuple(kept.tolist())
    n_cat = getattr(est, "n_categories_", None)
    if name == "CategoricalNB" and n_cat is not None and len(n_cat) == len(cols):
        for c, k in zip(cols, n_cat, strict=True):
            domains[c].categories = tuple(range(int(k)))


def _counts(est: Any, name: str, cols: list[int], domains: list[FeatureDomain]) -> None:
    if name in ("MultinomialNB", "ComplementNB"):
        per_class = np.asarray(est.feature_count_) / np.maximum(
            np.asarray(est.class_count_)[:, None], 1.0
        )
        top = per_class.max(axis=0) * 2.0 + 1.0
        _ranges(np.zeros(len(cols)), top, cols, domains, f"{name} counts")
        for c in cols:
            domains[c].nonneg = True
    elif name == "BernoulliNB":
        t = getattr(est, "binarize", None)
        for c in cols:
            if t is None:
                domains[c].categories = (0.0, 1.0)
            else:
                domains[c].widen(float(t) - 1.0, float(t) + 1.0, "BernoulliNB threshold")


def _trees(est: Any, name: str, cols: list[int], domains: list[FeatureDomain]) -> None:
    tree = getattr(est, "tree_", None)
    if tree is not None and hasattr(tree, "threshold"):
        feats, thr = np.asarray(tree.feature), np.asarray(tree.threshold)
        split = feats >= 0
        for f, t in zip(feats[split], thr[split], strict=True):
            if 0 <= f < len(cols):
                domains[cols[f]].widen(float(t) - 1.0, float(t) + 1.0, "tree thresholds")
    mapper = getattr(est, "_bin_mapper", None)
    thresholds = getattr(mapper, "bin_thresholds_", None)
    if thresholds is not None and len(thresholds) == len(cols):
        for c, t in zip(cols, thresholds, strict=True):
            t = np.asarray(t, dtype=np.float64)
            if t.size:
                domains[c].widen(float(t.min()) - 1.0, float(t.max()) + 1.0, "histogram bins")


def _stored_rows(est: Any, name: str, cols: list[int], domains: list[FeatureDomain]) -> None:
    for attr in (
        "_fit_X",
        "X_fit_",
        "X_train_",
        "support_vectors_",
        "cluster_centers_",
        "subcluster_centers_",
        "centroids_",
        "means_",
        "theta_",
    ):
        rows = getattr(est, attr, None)
        if rows is None or not hasattr(rows, "shape"):
            continue
        try:
            arr = np.asarray(rows.toarray() if hasattr(rows, "toarray") else rows, np.float64)
        except (TypeError, ValueError):
            continue
        if arr.ndim != 2 or arr.shape[1] != len(cols) or not arr.size:
            continue
        spread = _spread(est, arr)
        _ranges(arr.min(axis=0) - spread, arr.max(axis=0) + spread, cols, domains, attr)
        return


def _spread(est: Any, rows: np.ndarray) -> np.ndarray:
    var = getattr(est, "var_", None)  # GaussianNB
    if var is not None and np.asarray(var).shape == rows.shape:
        return np.asarray(np.sqrt(np.asarray(var, np.float64)).max(axis=0) * _SPREAD)
    if rows.shape[0] > 1:
        return np.asarray(rows.std(axis=0) * 0.5)
    return np.ones(rows.shape[1])


_READERS = (_scalers, _encoders, _counts, _trees, _stored_rows)


def column_transformer(est: Any) -> Any:
    """The ColumnTransformer at the front of ``est`` (through Pipelines), or None."""
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline

    while isinstance(est, Pipeline):
        est = est.steps[0][1]
    return est if isinstance(est, ColumnTransformer) else None

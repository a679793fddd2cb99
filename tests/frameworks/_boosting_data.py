"""Tiny tabular data shared by the gradient-boosting case tables."""

from __future__ import annotations

import numpy as np


def xy(classes: int = 2, n: int = 160, d: int = 4, seed: int = 3):
    """Features and a target: class indices (``classes`` >= 2) or values (``classes`` 0).

    The seed differs from the generated validation rows' (0): histogram-built trees
    split exactly at training values, and inputs sitting on a split are a case of
    their own (see the xgboost threshold-ties case).
    """
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d)).astype(np.float32)
    score = x[:, 0] + 0.5 * x[:, 1] - 0.25 * x[:, 2] + 0.4 * x[:, d - 1]
    if classes == 0:
        return x, (score + 0.1 * rng.standard_normal(n)).astype(np.float32)
    if classes == 2:
        return x, (score > 0).astype(np.int64)
    edges = np.quantile(score, np.linspace(0, 1, classes + 1)[1:-1])
    return x, np.digitize(score, edges).astype(np.int64)


def sample(d: int = 4, rows: int = 40, seed: int = 1) -> dict[str, np.ndarray]:
    """An uploaded sample in the training domain."""
    rng = np.random.default_rng(seed)
    return {"X": rng.standard_normal((rows, d)).astype(np.float32)}


def training_rows(classes: int = 0, rows: int = 40) -> dict[str, np.ndarray]:
    """A sample of the training rows themselves: some sit exactly on split thresholds."""
    return {"X": xy(classes=classes)[0][:rows]}

"""Boosted trees know their domain: validation rows span every feature's split thresholds."""

from __future__ import annotations

import numpy as np
import pytest

from converters import ServerPolicy, get_framework
from tests.frameworks import lightgbm as lightgbm_cases
from tests.frameworks import xgboost as xgboost_cases


@pytest.mark.parametrize(
    ("framework", "build"),
    [("xgboost", xgboost_cases._regressor), ("lightgbm", lightgbm_cases._multi)],
)
def test_domain_rows_cross_every_split(framework, build, tmp_path) -> None:
    pytest.importorskip(framework)
    path = build(tmp_path)
    source = get_framework(framework).load(path, path.name, {}, ServerPolicy())
    inputs, origin = source.domain_inputs(256, seed=0)
    x = inputs["X"]
    assert x.shape == (256, source.n_features) and x.dtype == np.float32
    assert "split thresholds" in origin
    splits = source._splits()
    assert splits, "the trees' thresholds were read"
    for feature, values in splits.items():
        assert x[:, feature].min() < values.min() and x[:, feature].max() > values.max()
    # rows on both sides of the splits: the model's outputs vary
    out = next(iter(source.predict(inputs).values()))
    assert float(np.std(out)) > 1e-3

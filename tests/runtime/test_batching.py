"""batch_size= runs large inputs in chunks with the same result as one call."""

from __future__ import annotations

import numpy as np
import pytest

import runtime
from runtime.errors import SignatureError


@pytest.mark.parametrize("batch_size", [1, 7, 64, 1000, 5000])
def test_batched_predict_equals_one_call(mlp_path, batch_size):
    model = runtime.load_file(mlp_path)
    x = np.random.default_rng(0).standard_normal((1000, 16)).astype(np.float32)
    np.testing.assert_array_equal(model.predict(x, batch_size=batch_size), model.predict(x))


def test_batched_run_and_proba_equal_one_call(classifier_path):
    model = runtime.load_file(classifier_path)
    x = np.random.default_rng(1).standard_normal((101, 4)).astype(np.float32)
    whole, parts = model.run(x), model.run(x, batch_size=10)
    for name in whole:
        np.testing.assert_array_equal(parts[name], whole[name])
    np.testing.assert_array_equal(model.predict_proba(x, batch_size=9), model.predict_proba(x))


def test_load_time_batch_size_is_the_default(mlp_path):
    model = runtime.load_file(mlp_path, batch_size=16)
    x = np.random.default_rng(2).standard_normal((50, 16)).astype(np.float32)
    np.testing.assert_array_equal(model.predict(x), runtime.load_file(mlp_path).predict(x))


def test_batched_multi_input_from_a_dataframe(two_input_path):
    import pandas as pd

    model = runtime.load_file(two_input_path)
    frame = pd.DataFrame({"a": np.arange(10, dtype=np.float32), "b": np.arange(10, dtype=np.int64)})
    np.testing.assert_array_equal(model.predict(frame, batch_size=3), model.predict(frame))


@pytest.mark.parametrize("bad", [0, -1, 2.5])
def test_invalid_batch_size_is_refused(linear_path, bad):
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        runtime.load_file(linear_path).predict(np.ones((3, 4), np.float32), batch_size=bad)


def test_batching_refuses_inputs_with_different_row_counts(model_dir):
    from tests.factories.runtime_models import two_input_model

    model = runtime.load_file(two_input_model(model_dir / "two-unshared.onnx"))
    # same symbolic name, so the plan refuses before batching even starts
    with pytest.raises(SignatureError):
        model.predict(
            {"a": np.ones((4, 1), np.float32), "b": np.ones((5, 1), np.int64)}, batch_size=2
        )

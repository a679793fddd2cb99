"""Signature enforcement on every call: which input, what was expected, what was given."""

from __future__ import annotations

import numpy as np
import pytest

import runtime
from runtime import Signature
from runtime._inputs import InputPlan
from runtime.errors import SignatureError


@pytest.fixture(scope="module")
def linear(linear_path):
    return runtime.load_file(linear_path)


@pytest.mark.parametrize(
    ("given", "pattern"),
    [
        (
            np.ones((2, 4), np.int64),
            r"input 'x': expected float32\[batch, 4\], given int64\[2, 4\]",
        ),
        (np.ones((2, 4), np.int8), r"int8 cannot be cast safely"),
        (np.ones((2, 4), np.bool_), r"bool cannot be cast safely"),
        (np.ones((2, 5), np.float32), r"dimension 1 must be 4, got 5"),
        (np.ones(4, np.float32), r"rank 2 was expected, got rank 1; for a single row"),
        (np.ones((1, 2, 4), np.float32), r"rank 2 was expected, got rank 3"),
        (np.array(["a", "b", "c", "d"]).reshape(1, 4), r"<U1 cannot be cast safely"),
    ],
)
def test_mismatches_name_input_expected_and_given(linear, given, pattern):
    with pytest.raises(SignatureError, match=pattern):
        linear.predict(given)


def test_float64_is_cast_to_float32(linear):
    x = np.random.default_rng(0).standard_normal((3, 4))
    np.testing.assert_array_equal(linear.predict(x), linear.predict(x.astype(np.float32)))


def test_float64_overflowing_float32_is_refused_not_turned_into_inf(linear):
    x = np.ones((1, 4))
    x[0, 2] = 1e300
    with pytest.raises(SignatureError, match="overflows float32"):
        linear.predict(x)


def test_infinities_and_nans_in_float64_still_cast(linear):
    x = np.array([[np.inf, np.nan, 1.0, 2.0]])
    assert linear.predict(x).shape == (1, 2)


def test_int32_is_cast_to_int64(two_input_path):
    model = runtime.load_file(two_input_path)
    a = np.array([[1.0]], np.float32)
    out32 = model.predict({"a": a, "b": np.array([[5]], np.int32)})
    np.testing.assert_array_equal(out32, [[7.0]])


def test_lists_are_accepted_through_the_same_rules(linear):
    out = linear.predict([[0.0, 1.0, 2.0, 3.0]])
    np.testing.assert_array_equal(out, linear.predict(np.array([[0, 1, 2, 3]], np.float32)))


@pytest.mark.parametrize("rows", [1, 3, 257])
def test_dynamic_batch_dim_takes_any_size(linear, rows):
    assert linear.predict(np.zeros((rows, 4), np.float32)).shape == (rows, 2)


def test_missing_and_unknown_inputs_are_named(two_input_path):
    model = runtime.load_file(two_input_path)
    with pytest.raises(SignatureError, match=r"missing 'b'; unknown 'c'.*expected exactly: a, b"):
        model.predict({"a": np.ones((1, 1), np.float32), "c": np.ones((1, 1), np.int64)})


def test_extra_inputs_are_not_silently_dropped(linear):
    with pytest.raises(SignatureError, match="unknown 'extra'"):
        linear.predict({"x": np.ones((1, 4), np.float32), "extra": np.ones(1)})


def test_multi_input_model_refuses_a_bare_vector(two_input_path):
    with pytest.raises(SignatureError, match=r"has 2 inputs \(a, b\)"):
        runtime.load_file(two_input_path).predict(np.ones(3, np.float32))


def test_inputs_sharing_a_symbolic_dim_must_agree(two_input_path):
    model = runtime.load_file(two_input_path)
    with pytest.raises(
        SignatureError, match=r"input 'b': dimension 0 \('batch'\) is 3 but input 'a' has 2"
    ):
        model.predict({"a": np.ones((2, 1), np.float32), "b": np.ones((3, 1), np.int64)})


def test_plan_is_built_once_per_model(linear):
    plan = linear._plan
    linear.predict(np.ones((1, 4), np.float32))
    assert linear._plan is plan and isinstance(plan, InputPlan)


def test_unknown_rank_accepts_any_rank():
    plan = InputPlan(Signature.from_dict({"inputs": [{"name": "x", "dtype": "float32"}]}))
    assert plan.feeds(np.ones((2, 3, 4), np.float32))["x"].shape == (2, 3, 4)

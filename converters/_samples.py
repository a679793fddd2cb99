"""Validation inputs: an uploaded sample file, and inputs generated from a signature.

Generated inputs have at least 32 rows and always include edge rows: zeros and large
magnitudes, next to seeded random values. The batch-1 case is exercised separately by
the validation routine (it runs the first row on its own).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from runtime import Signature, TensorSpec
from runtime.errors import InvalidUpload

__all__ = ["MIN_ROWS", "generate_inputs", "load_sample", "numpy_dtype"]

MIN_ROWS = 32
LARGE = 1.0e3
INNER_DIM = 4  # size used for symbolic non-batch dimensions
_STR_VOCAB = np.array(["a", "b", "c", "d"], dtype=object)


def numpy_dtype(name: str) -> np.dtype[Any]:
    """The numpy dtype of a signature dtype name (``str`` -> object)."""
    if name in ("str", "string", "object"):
        return np.dtype(object)
    return np.dtype(name)


def _concrete_shape(spec: TensorSpec, rows: int) -> tuple[int, ...]:
    if spec.shape is None:
        return (rows,)
    dims: list[int] = []
    for i, d in enumerate(spec.shape):
        if i == 0:
            dims.append(d if isinstance(d, int) and d > 0 else rows)
        else:
            dims.append(d if isinstance(d, int) and d > 0 else INNER_DIM)
    return tuple(dims)


def generate_inputs(
    signature: Signature, rows: int = MIN_ROWS, seed: int = 0
) -> dict[str, np.ndarray]:
    """Seeded inputs for every input of ``signature``, batch on axis 0.

    Row 1 is all zeros, rows 2-3 are large magnitudes (+/-1e3), the rest random.
    A fixed first dimension (a model that only takes batch k) is respected.
    """
    rng = np.random.default_rng(seed)
    out: dict[str, np.ndarray] = {}
    for spec in signature.inputs:
        shape = _concrete_shape(spec, max(rows, MIN_ROWS))
        out[spec.name] = _values(spec.dtype, shape, rng)
    return out


def _values(dtype_name: str, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    dtype = numpy_dtype(dtype_name)
    n = shape[0]
    if dtype.kind == "O":
        return rng.choice(_STR_VOCAB, size=shape)
    if dtype.kind == "b":
        return rng.random(shape) < 0.5
    if dtype.kind in "iu":
        x = rng.integers(0, 10, size=shape).astype(dtype)
        if n > 1:
            x[1] = 0
        return x
    x = rng.standard_normal(shape)
    if n > 1:
        x[1] = 0.0
    if n > 3:
        x[2] = LARGE
        x[3] = -LARGE
    return x.astype(dtype)


def load_sample(path: Path, signature: Signature) -> dict[str, np.ndarray]:
    """Read an uploaded sample (.npy, .npz, .csv, .parquet) as named inputs.

    A single array feeds a single-input model; ``.npz`` keys and table columns are
    matched to input names (never by position). Raises ``InvalidUpload`` saying what
    the model expects when they do not fit.
    """
    suffix = path.suffix.lower()
    if suffix == ".npy":
        return _from_arrays({"": np.load(path, allow_pickle=False)}, signature)
    if suffix == ".npz":
        with np.load(path, allow_pickle=False) as npz:
            return _from_arrays({k: npz[k] for k in npz.files}, signature)
    if suffix in (".csv", ".parquet"):
        import pandas as pd

        frame = pd.read_csv(path) if suffix == ".csv" else pd.read_parquet(path)
        return _from_frame(frame, signature)
    raise InvalidUpload(
        f"sample file {path.name!r} has an unsupported type; use .npy, .npz, .csv or .parquet"
    )


def _expected(signature: Signature) -> str:
    return ", ".join(f"{t.name}: {t.dtype}{t.shape_text()}" for t in signature.inputs)


def _from_arrays(arrays: dict[str, np.ndarray], signature: Signature) -> dict[str, np.ndarray]:
    names = signature.input_names
    if len(arrays) == 1 and len(names) == 1 and next(iter(arrays)) not in names:
        arrays = {names[0]: next(iter(arrays.values()))}
    missing = [n for n in names if n not in arrays]
    if missing:
        raise InvalidUpload(
            f"the sample lacks input(s) {', '.join(missing)}; "
            f"the model expects {_expected(signature)}"
        )
    return {spec.name: _cast(arrays[spec.name], spec) for spec in signature.inputs}


def _from_frame(frame: Any, signature: Signature) -> dict[str, np.ndarray]:
    names = signature.input_names
    columns = [str(c) for c in frame.columns]
    if all(n in columns for n in names):
        out = {}
        for spec in signature.inputs:
            col = frame[spec.name].to_numpy()
            if spec.shape is not None and len(spec.shape) == 2:
                col = col.reshape(-1, 1)
            out[spec.name] = _cast(col, spec)
        return out
    if len(names) == 1:
        return {names[0]: _cast(frame.to_numpy(), signature.inputs[0])}
    raise InvalidUpload(
        f"the sample's columns ({', '.join(columns)}) do not name the model's inputs "
        f"({_expected(signature)})"
    )


def _cast(x: np.ndarray, spec: TensorSpec) -> np.ndarray:
    dtype = numpy_dtype(spec.dtype)
    try:
        return np.asarray(x).astype(dtype)
    except (TypeError, ValueError) as exc:
        raise InvalidUpload(
            f"sample input {spec.name!r} cannot be read as {spec.dtype}: {exc}"
        ) from exc

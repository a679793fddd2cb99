"""Turning what a caller passes (ndarray, dict of arrays, DataFrame) into checked feeds.

An :class:`InputPlan` is computed once per loaded model from its signature, so a call
does no signature parsing: the common case (one float32 array for a one-input model)
costs a dtype identity test and a loop over the fixed dimensions.

Casting rules: only float64 -> float32 (refused when a finite value would overflow),
int32 -> int64 and the exact widenings float16 -> float32 -> float64 happen silently;
every other mismatch is a :class:`SignatureError` naming the input, what was expected
and what was given.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NoReturn

import numpy as np

from runtime._signature import Signature, TensorSpec
from runtime.errors import SignatureError

__all__ = ["InputPlan", "InputSpec", "batch_rows"]

_SAFE_CASTS = {
    (np.dtype("float64"), np.dtype("float32")),  # range-checked below
    (np.dtype("int32"), np.dtype("int64")),
    (np.dtype("float32"), np.dtype("float64")),  # widening: exact
    (np.dtype("float16"), np.dtype("float32")),  # widening: exact
}
_F32_MAX = float(np.finfo(np.float32).max)
_STRING_KINDS = frozenset("UOS")


class InputSpec:
    """One input's precomputed checks."""

    __slots__ = ("dtype", "fixed", "is_string", "name", "ndim", "shape", "symbolic", "text")

    def __init__(self, spec: TensorSpec) -> None:
        self.name = spec.name
        self.is_string = spec.dtype in ("str", "string", "object")
        self.dtype: np.dtype[Any] | None = None
        if not self.is_string:
            try:
                self.dtype = np.dtype(spec.dtype)
            except TypeError:
                self.dtype = None  # a non-tensor type: passed through unchecked
        self.shape = spec.shape
        self.ndim = None if spec.shape is None else len(spec.shape)
        dims = spec.shape or ()
        self.fixed = tuple((i, d) for i, d in enumerate(dims) if isinstance(d, int) and d > 0)
        self.symbolic = tuple((i, d) for i, d in enumerate(dims) if isinstance(d, str))
        self.text = f"{spec.dtype}{spec.shape_text()}"

    def check(self, x: Any) -> np.ndarray:
        """Return ``x`` as an array this input accepts, or raise :class:`SignatureError`."""
        if type(x) is not np.ndarray:
            x = self._as_array(x)
        dtype = self.dtype
        if dtype is not None and x.dtype is not dtype and x.dtype != dtype:
            x = self._cast(x)
        elif self.is_string and x.dtype.kind not in _STRING_KINDS:
            self._fail(x, "strings were expected")
        if self.ndim is not None:
            if x.ndim != self.ndim:
                hint = ""
                if x.ndim == self.ndim - 1:
                    hint = "; for a single row use x.reshape(1, -1)"
                elif x.ndim == self.ndim + 1 == 2:
                    hint = "; flatten it with x.ravel() if it holds one value per row"
                self._fail(x, f"rank {self.ndim} was expected, got rank {x.ndim}{hint}")
            shape = x.shape
            for axis, size in self.fixed:
                if shape[axis] != size:
                    self._fail(x, f"dimension {axis} must be {size}, got {shape[axis]}")
        return x  # type: ignore[no-any-return]  # an ndarray by now; no cast() on the hot path

    def _as_array(self, x: Any) -> np.ndarray:
        try:
            return np.asarray(x)
        except (TypeError, ValueError) as exc:
            raise SignatureError(
                f"input {self.name!r}: expected {self.text}, given a {type(x).__name__} "
                f"that is not convertible to an array ({exc})"
            ) from exc

    def _cast(self, x: np.ndarray) -> np.ndarray:
        assert self.dtype is not None
        if (x.dtype, self.dtype) not in _SAFE_CASTS:
            self._fail(
                x,
                f"dtype {x.dtype} cannot be cast safely to {self.dtype}; convert it yourself "
                f"(x.astype('{self.dtype}')) if the loss is acceptable",
            )
        if x.dtype == np.float64 and self.dtype == np.float32:
            # fast check first; NaN compares False, so NaNs and infs take the careful path
            if not x.size or np.abs(x).max() <= _F32_MAX:
                return x.astype(np.float32)
            finite = np.abs(x[np.isfinite(x)])
            if finite.size and finite.max() > _F32_MAX:
                self._fail(x, f"value {finite.max():g} overflows float32; it would become inf")
            with np.errstate(over="ignore"):  # only +-inf inputs reach here: they stay inf
                return x.astype(np.float32)
        return x.astype(self.dtype)

    def _fail(self, x: np.ndarray, why: str) -> NoReturn:
        raise SignatureError(
            f"input {self.name!r}: expected {self.text}, given {x.dtype}{list(x.shape)}: {why}"
        )


def _is_dataframe(x: object) -> bool:
    return type(x).__module__.partition(".")[0] == "pandas" and hasattr(x, "columns")


class InputPlan:
    """The checks of all inputs of one model, computed once from its signature."""

    def __init__(self, signature: Signature) -> None:
        self.specs = tuple(InputSpec(t) for t in signature.inputs)
        self.names = tuple(s.name for s in self.specs)
        self.single = self.specs[0] if len(self.specs) == 1 else None
        self._by_name = {s.name: s for s in self.specs}
        self._shared = any(s.symbolic for s in self.specs) and len(self.specs) > 1
        # Several per-row scalar inputs (PMML fields, sklearn columns) may also be fed
        # from one (rows, n_inputs) matrix, its columns in signature order.
        self._columns = len(self.specs) > 1 and all(
            s.ndim == 1 or (s.ndim == 2 and s.fixed == ((1, 1),)) for s in self.specs
        )

    def feeds(self, x: Any) -> dict[str, np.ndarray]:
        """Checked feeds for ``x``: an array, a mapping name -> array, or a DataFrame."""
        single = self.single
        if single is not None and type(x) is np.ndarray:
            return {single.name: single.check(x)}
        if isinstance(x, Mapping):
            return self._from_mapping(x)
        if _is_dataframe(x):
            return self._from_frame(x)
        if single is None and self._columns and isinstance(x, np.ndarray) and x.ndim == 2:
            return self._from_matrix(x)
        if single is None:
            raise SignatureError(
                f"this model has {len(self.specs)} inputs ({', '.join(self.names)}); pass a "
                f"dict name -> array or a DataFrame with those columns, not a {type(x).__name__}"
            )
        return {single.name: single.check(x)}

    def _from_mapping(self, x: Mapping[str, Any]) -> dict[str, np.ndarray]:
        missing = [n for n in self.names if n not in x]
        unknown = [str(k) for k in x if k not in self._by_name]
        if missing or unknown:
            parts = []
            if missing:
                parts.append(f"missing {', '.join(map(repr, missing))}")
            if unknown:
                parts.append(f"unknown {', '.join(map(repr, unknown))}")
            raise SignatureError(
                f"inputs do not match the signature ({'; '.join(parts)}); "
                f"expected exactly: {', '.join(self.names)}"
            )
        feeds = {s.name: s.check(x[s.name]) for s in self.specs}
        if self._shared:
            self._check_shared_dims(feeds)
        return feeds

    def _from_matrix(self, x: np.ndarray) -> dict[str, np.ndarray]:
        if x.shape[1] != len(self.specs):
            raise SignatureError(
                f"a matrix for this model needs {len(self.specs)} columns "
                f"({', '.join(self.names)}), given {x.shape[1]}"
            )
        feeds = {}
        for i, spec in enumerate(self.specs):
            column = x[:, i : i + 1] if spec.ndim == 2 else x[:, i]
            feeds[spec.name] = spec.check(np.ascontiguousarray(column))
        return feeds

    def _from_frame(self, frame: Any) -> dict[str, np.ndarray]:
        columns = [str(c) for c in frame.columns]
        single = self.single
        if single is not None and single.name not in columns:
            return {single.name: single.check(frame.to_numpy())}
        missing = [n for n in self.names if n not in columns]
        unknown = [c for c in columns if c not in self._by_name]
        if missing or unknown:
            raise SignatureError(
                f"DataFrame columns do not match the model's inputs (missing: "
                f"{', '.join(missing) or '-'}; unexpected: {', '.join(unknown) or '-'}); "
                f"expected columns: {', '.join(self.names)}"
            )
        feeds = {}
        for spec in self.specs:
            values = frame[spec.name].to_numpy()
            if spec.ndim == 2:
                values = values.reshape(-1, 1)
            if spec.is_string and values.dtype.kind not in _STRING_KINDS:
                values = values.astype(object)
            feeds[spec.name] = spec.check(values)
        return feeds

    def _check_shared_dims(self, feeds: dict[str, np.ndarray]) -> None:
        seen: dict[str, tuple[str, int]] = {}
        for spec in self.specs:
            shape = feeds[spec.name].shape
            for axis, sym in spec.symbolic:
                size = shape[axis]
                if sym in seen and seen[sym][1] != size:
                    other, other_size = seen[sym]
                    raise SignatureError(
                        f"input {spec.name!r}: dimension {axis} ({sym!r}) is {size} but "
                        f"input {other!r} has {other_size} for the same dimension"
                    )
                seen.setdefault(sym, (spec.name, size))


def batch_rows(feeds: Mapping[str, np.ndarray]) -> int:
    """Rows on axis 0, the same for every input; raises when the inputs disagree."""
    sizes = {name: (a.shape[0] if a.ndim else 1) for name, a in feeds.items()}
    distinct = set(sizes.values())
    if len(distinct) != 1:
        raise SignatureError(f"batching needs the same number of rows in every input, got {sizes}")
    return distinct.pop()

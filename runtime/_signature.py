"""Model signatures: named, typed, shaped inputs and outputs.

A signature is plain data, stored by the registry as JSON and enforced by the
runtime on every call. dtypes are numpy dtype names (``float32``, ``int64``,
``bool``, ``str`` for strings); a dimension is an ``int``, a symbolic name
(``"batch"``) or ``None`` (unknown).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["Dim", "Signature", "TensorSpec"]

Dim = int | str | None


@dataclass(frozen=True, slots=True)
class TensorSpec:
    """One named input or output."""

    name: str
    dtype: str
    shape: tuple[Dim, ...] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "dtype": self.dtype,
            "shape": None if self.shape is None else list(self.shape),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TensorSpec:
        shape = data.get("shape")
        return cls(
            name=str(data["name"]),
            dtype=str(data["dtype"]),
            shape=None if shape is None else tuple(shape),
        )

    def shape_text(self) -> str:
        """Human form of the shape, e.g. ``[batch, 4]``."""
        if self.shape is None:
            return "?"
        return "[" + ", ".join("?" if d is None else str(d) for d in self.shape) + "]"


@dataclass(frozen=True, slots=True)
class Signature:
    """The inputs and outputs of a model, in the model's own order."""

    inputs: tuple[TensorSpec, ...] = field(default_factory=tuple)
    outputs: tuple[TensorSpec, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        return {
            "inputs": [t.to_dict() for t in self.inputs],
            "outputs": [t.to_dict() for t in self.outputs],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Signature:
        data = data or {}
        return cls(
            inputs=tuple(TensorSpec.from_dict(t) for t in data.get("inputs", [])),
            outputs=tuple(TensorSpec.from_dict(t) for t in data.get("outputs", [])),
        )

    @property
    def input_names(self) -> list[str]:
        return [t.name for t in self.inputs]

    @property
    def output_names(self) -> list[str]:
        return [t.name for t in self.outputs]

"""An uploaded sample decides the shapes a TorchScript module is traced with.

A TorchScript file carries no input shapes: the loader infers them from the first
Linear/Conv layer or tries a few image sizes, which can differ from the data the model
is used on (a CNN for 64x64 images traced at 28x28). When a sample is uploaded and its
arrays have other non-batch dimensions than the inferred ones, the module is loaded
again with ``input_shapes`` taken from the sample (the user's own ``input_shapes``
always win).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["sample_shape_options"]


def _arrays(path: Path) -> dict[str, tuple[int, ...]] | None:
    suffix = path.suffix.lower()
    try:
        if suffix == ".npy":
            return {"": tuple(np.load(path, mmap_mode="r", allow_pickle=False).shape)}
        if suffix == ".npz":
            with np.load(path, allow_pickle=False) as npz:
                return {k: tuple(npz[k].shape) for k in npz.files}
    except (OSError, ValueError):
        return None
    return None  # tables hold 1-D columns: nothing to say about tensor shapes


def sample_shape_options(
    source: Any, sample_path: Path | None, options: Mapping[str, Any]
) -> dict[str, Any] | None:
    """Options to reload ``source`` with, or None when the sample changes nothing."""
    if sample_path is None or getattr(source, "kind", None) != "torchscript":
        return None
    shapes = _arrays(sample_path)
    if not shapes:
        return None
    names = source.signature.input_names
    if len(shapes) == 1 and len(names) == 1 and next(iter(shapes)) not in names:
        shapes = {names[0]: next(iter(shapes.values()))}
    given = dict(options.get("input_shapes") or {})
    wanted: dict[str, list[int | None]] = {}
    for spec in source.signature.inputs:
        shape = shapes.get(spec.name)
        if shape is None or spec.name in given or not shape:
            continue
        current = list(spec.shape or ())[1:]
        if len(current) != len(shape) - 1 or any(
            isinstance(c, int) and c != s for c, s in zip(current, shape[1:], strict=True)
        ):
            wanted[spec.name] = [None, *(int(s) for s in shape[1:])]
    if not wanted:
        return None
    return {**dict(options), "input_shapes": {**given, **wanted}}

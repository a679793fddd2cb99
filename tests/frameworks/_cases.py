"""The shape of a framework test case.

Each ``tests/frameworks/<framework>.py`` exports ``CASES: list[FrameworkCase]``. The
generic tests run every case through detection -> isolated conversion -> validation ->
``runtime.load_file`` and compare with the source model's own outputs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class FrameworkCase:
    id: str  # e.g. "sklearn-logreg"
    framework: str  # "onnx" | "sklearn" | "torch" | "keras" | "tensorflow"
    # Fits/builds the tiny model, writes the upload file (or archive) into the given
    # folder, returns its path.
    build: Callable[[Path], Path]
    # Named inputs for validation/comparison (batch on axis 0); None = generated.
    sample: Callable[[], dict[str, np.ndarray]] | None = None
    # target -> expected artifact status ("passed", "weak", "failed", "error", "skipped").
    expect: dict[str, str] = field(default_factory=dict)
    slow: bool = False

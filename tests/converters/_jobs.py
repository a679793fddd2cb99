"""Run a fitted scikit-learn estimator through the worker's job code in this process."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from converters import REQUEST_FILE, WorkerRequest
from converters._worker import run_job


def run_sklearn(
    folder: Path, est: Any, targets=("onnx",), sample: dict[str, np.ndarray] | None = None
) -> dict:
    """Save ``est`` with skops under ``folder/input`` and run the job; the result dict."""
    import skops.io as sio

    (folder / "input").mkdir(parents=True)
    sio.dump(est, folder / "input" / "m.skops")
    sample_rel = None
    if sample is not None:
        np.savez(folder / "input" / "sample.npz", **sample)
        sample_rel = "input/sample.npz"
    request = WorkerRequest(
        source="input/m.skops",
        filename="m.skops",
        framework="sklearn",
        targets=tuple(targets),
        sample=sample_rel,
    )
    (folder / REQUEST_FILE).write_text(request.to_json())
    return run_job(folder).to_dict()


def by_format(result: dict) -> dict[str, dict]:
    return {a["format"]: a for a in result["artifacts"]}

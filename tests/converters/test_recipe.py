"""The reproduction recipe in a report re-runs the conversion by hand and agrees."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.converters._jobs import run_sklearn

pytest.importorskip("skl2onnx")


def test_onnx_recipe_runs_outside_the_registry_and_agrees(tmp_path: Path) -> None:
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x, y = load_iris(return_X_y=True)
    est = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(x, y)
    (art,) = run_sklearn(tmp_path, est)["artifacts"]
    recipe = art["validation"]["recipe"]
    assert recipe["versions"]["scikit-learn"] and recipe["versions"]["skl2onnx"]
    assert recipe["pip"].startswith("pip install ") and "skl2onnx==" in recipe["pip"]
    script = tmp_path / "by-hand" / recipe["filename"]
    script.parent.mkdir()
    script.write_text(recipe["script"])
    # a clean interpreter, outside the repository: only the libraries the recipe names
    proc = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "input" / "m.skops")],
        cwd=script.parent,
        capture_output=True,
        text=True,
        timeout=300,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert lines[-1] == "OK", proc.stdout
    assert any(line.startswith("probabilities: max abs diff") for line in lines)

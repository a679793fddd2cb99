"""Conversions per minute with 1 vs 2 Celery conversion workers on one mixed queue.

Starts a RabbitMQ node of its own (own ports and folders), a PostgreSQL database, an
API server with MODELPORT_WORKERS=celery (it converts nothing) and, per round, 1 or 2
``modelport worker`` processes serving every queue. Each round uploads the same mix of
tiny models (ONNX, scikit-learn, TorchScript; each job runs in its own child process as
always) and times from the first upload until every version is ready or failed.

    python bench/workers.py [--rounds 1] [--quick]

Each round is timed once its workers' fork servers (one warm parent per framework
group) are up. Prints conversions per minute per round and the 2-worker / 1-worker
ratio. On a machine with 2 free cores the ideal is 2x; a shared machine gives less.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from registry._queues import QUEUES  # noqa: E402
from tests.api.conftest import upload  # noqa: E402
from tests.conftest import (  # noqa: E402
    _create_pg_database,
    _drop_pg_database,
    start_registry,
    stop_registry,
)
from tests.factories.onnx_models import linear_model  # noqa: E402
from tests.frameworks.sklearn import _ridge  # noqa: E402
from tests.frameworks.torch import _torchscript  # noqa: E402
from tests.scaleout._services import RabbitNode, rabbit_home, start_worker, worker_env  # noqa: E402


def _models(folder: Path, quick: bool) -> list[Path]:
    onnx = linear_model(folder / "lin.onnx")
    ridge = _ridge(folder)
    script = _torchscript("mlp")(folder)
    if quick:
        return [onnx, ridge, onnx, script]
    return [onnx, ridge, script, onnx, ridge, onnx, ridge, script, onnx, ridge]


def _round(api_url: str, env: dict, models: list[Path], tag: str, n: int, tmp: Path) -> float:
    workers = [start_worker(tmp / f"worker-{tag}-{i}.log", env) for i in range(n)]
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and any(  # timed from warm: fork servers up
        w.log().count("fork server") < len(QUEUES) for w in workers
    ):
        time.sleep(0.5)
    try:
        with httpx.Client(base_url=api_url, timeout=120) as client:
            t0 = time.monotonic()
            names = []
            for i, path in enumerate(models):
                name = f"{tag}-{i}"
                resp = upload(client, name, path, targets="onnx")
                assert resp.status_code == 202, resp.text
                names.append(name)
            pending = set(names)
            while pending:
                for name in list(pending):
                    body = client.get(f"/api/v1/models/{name}/versions/1").json()
                    if body["status"] in ("ready", "failed"):
                        pending.discard(name)
                time.sleep(0.2)
            elapsed = time.monotonic() - t0
    finally:
        for w in workers:
            w.stop()
    return len(models) / elapsed * 60


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="4 models per round (CI)")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="mp-bench-workers-"))
    node = RabbitNode(rabbit_home())
    node.start()
    db = _create_pg_database()
    api = None
    try:
        (tmp / "models").mkdir()
        models = _models(tmp / "models", args.quick)
        env = worker_env(tmp / "data", db.url, node.url, MODELPORT_JOB_LEASE_S="30")
        api_env = {k: v for k, v in env.items() if k.startswith("MODELPORT_")}
        api = start_registry(tmp / "data", db.url, api_env)
        rates: dict[int, list[float]] = {1: [], 2: []}
        for r in range(args.rounds):
            for n in (1, 2):
                rate = _round(api.url, env, models, f"r{r}w{n}", n, tmp)
                rates[n].append(rate)
                print(
                    f"round {r + 1}: {n} worker(s): {len(models)} conversions, "
                    f"{rate:.1f} conversions/min",
                    flush=True,
                )
        one, two = statistics.median(rates[1]), statistics.median(rates[2])
        print(f"\nmedian conversions/min: 1 worker {one:.1f}, 2 workers {two:.1f}")
        print(f"ratio 2 workers / 1 worker: {two / one:.2f}x")
    finally:
        if api is not None:
            stop_registry(api)
        node.stop()
        _drop_pg_database(db)


if __name__ == "__main__":
    main()

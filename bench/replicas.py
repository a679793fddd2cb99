"""Metadata reads per second through nginx with 1 vs 2 API replicas, 32 clients.

Starts a PostgreSQL database, two ``modelport serve`` replicas (uvicorn, one process
each) on it and one data folder, seeds a few ready versions, then two nginx instances
on their own ports: one balancing over replica 1 only, one over both. ApacheBench
(``ab -k -c 32``, apt-get install apache2-utils) drives each, alternating, for two
reads: a version document (``GET /api/v1/models/{name}/versions/1``, kept encoded in
the replica's memory) and a model document (``GET /api/v1/models/{name}``, read from
the database every time).

    python bench/replicas.py [--seconds 10] [--rounds 2] [--clients 32]

Prints requests/s per setup and read, and the 2-replica / 1-replica ratios. On a
2-core machine nginx, ab and both replicas share the cores, so the ratio is bounded
well below 2x there; it shows what a second replica buys on the same machine.
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.api.conftest import upload, wait_done  # noqa: E402
from tests.conftest import (  # noqa: E402
    _create_pg_database,
    _drop_pg_database,
    start_registry,
    stop_registry,
)
from tests.factories.onnx_models import linear_model  # noqa: E402
from tests.scaleout._services import Nginx  # noqa: E402

READS = {
    "version document": "/api/v1/models/{name}/versions/1",
    "model document": "/api/v1/models/{name}",
}


def _ab(url: str, clients: int, seconds: float) -> tuple[float, int]:
    """Requests per second and failed/non-2xx count of one ab run."""
    out = subprocess.run(
        ["ab", "-k", "-q", "-c", str(clients), "-t", str(seconds), "-n", "10000000", url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rps = float(re.search(r"Requests per second:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    failed = int(re.search(r"Failed requests:\s+(\d+)", out).group(1))  # type: ignore[union-attr]
    non2xx = re.search(r"Non-2xx responses:\s+(\d+)", out)
    return rps, failed + (int(non2xx.group(1)) if non2xx else 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--clients", type=int, default=32)
    args = parser.parse_args()
    if shutil.which("ab") is None:
        sys.exit("ab (ApacheBench) is needed: apt-get install apache2-utils")
    tmp = Path(tempfile.mkdtemp(prefix="mp-bench-replicas-", dir="/tmp"))
    tmp.chmod(0o755)
    db = _create_pg_database()
    replicas, balancers = [], []
    try:
        env = {"MODELPORT_WORKER_CONCURRENCY": "1"}
        replicas = [start_registry(tmp / "data", db.url, env) for _ in range(2)]
        model = linear_model(tmp / "lin.onnx")
        with httpx.Client(base_url=replicas[0].url, timeout=60) as client:
            for i in range(4):
                assert upload(client, f"m{i}", model, targets="onnx").status_code == 202
            for i in range(4):
                assert wait_done(client, f"m{i}", 1)["status"] == "ready"
        ups = [r.url.removeprefix("http://") for r in replicas]
        balancers = [Nginx(tmp / "nginx-1", ups[:1]), Nginx(tmp / "nginx-2", ups)]
        for b in balancers:
            b.start()
        results: dict[tuple[str, int], list[float]] = {}
        errors = 0
        for r in range(args.rounds):
            for read, path in READS.items():
                for n, b in zip((1, 2), balancers, strict=True):
                    _ab(b.url + path.format(name="m1"), args.clients, 1)  # warm-up
                    rps, bad = _ab(b.url + path.format(name="m1"), args.clients, args.seconds)
                    errors += bad
                    results.setdefault((read, n), []).append(rps)
                    print(f"round {r + 1}: {read}, {n} replica(s): {rps:.0f} req/s", flush=True)
        print(f"\n{args.clients} concurrent clients, median of {args.rounds} round(s):")
        for read in READS:
            one = statistics.median(results[(read, 1)])
            two = statistics.median(results[(read, 2)])
            print(
                f"{read:18s} 1 replica {one:7.0f} req/s   2 replicas {two:7.0f} req/s   "
                f"ratio {two / one:.2f}x"
            )
        print(f"failed or non-2xx responses: {errors}")
    finally:
        for b in balancers:
            b.stop()
        for rep in replicas:
            stop_registry(rep)
        _drop_pg_database(db)
        time.sleep(0.1)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()

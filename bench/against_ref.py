"""This checkout against another git ref (default ``main``), side by side in one run.

For a change to the registry's read path or the runtime's load path: both checkouts
run the same measurement, alternating round by round (which side goes first swaps each
round), so a machine that other work loads affects both alike; each row prints both
medians and the ratio ref / this (> 1: this checkout is faster).

* ``concurrent``: 32 threads x 50 GETs of one version document (``bench/vs_mlflow.py``'s
  row), each side's ``modelport serve`` on a fresh SQLite and a fresh PostgreSQL database;
  throughput and p99 per round.
* ``cold``: a fresh process ``import runtime; runtime.load('forest:1'); predict`` with
  an empty cache, each side's runtime against the same server; seconds of the process.

Both checkouts get their bytecode compiled first, as an installed package has (where
``PYTHONDONTWRITEBYTECODE`` is set every fresh process would compile the sources again).

Usage: ``python bench/against_ref.py [--ref main] [--sections concurrent,cold]
[--rounds 5] [--no-postgres]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

from vs_mlflow import (
    _COLD_MP,
    N_FEATURES,
    ROOT,
    Server,
    compile_bytecode,
    concurrent,
    pg_database,
    start_modelport,
    timed_process,
    train_forest,
    wait_idle,
)

PATH = "/api/v1/models/forest/versions/1"


def export(ref: str, dest: Path) -> Path:
    """The tree of ``ref`` (committed files only) under ``dest``."""
    dest.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", ref], capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    return dest


def side_by_side(
    rounds: int, fns: dict[str, Callable[[], float]], idle: float
) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {name: [] for name in fns}
    order = list(fns)
    for i in range(rounds):
        wait_idle(idle, 0.25)
        for name in order if i % 2 == 0 else order[::-1]:
            out[name].append(fns[name]())
    return out


def row(measure: str, values: dict[str, list[float]], unit: str, higher: bool = False) -> str:
    ref, this = (statistics.median(v) for v in values.values())
    ratio = this / ref if higher else ref / this
    scale = 1000 if unit == "ms" else 1
    each = "  ".join(
        f"{name}: " + " ".join(f"{v * scale:.4g}" for v in vals) for name, vals in values.items()
    )
    return (
        f"{measure:<40} ref {ref * scale:9.4g} {unit:<5} this {this * scale:9.4g} {unit:<5} "
        f"ref/this {ratio:.2f}x   [{each}]"
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--ref", default="main", help="the git ref to compare with")
    p.add_argument("--this", help="a git ref to measure instead of this working tree")
    p.add_argument("--sections", default="concurrent,cold")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--threads", type=int, default=32)
    p.add_argument("--each", type=int, default=50)
    p.add_argument("--no-postgres", action="store_true")
    p.add_argument("--idle-wait", type=float, default=10.0, help="max seconds to wait per round")
    args = p.parse_args(argv)
    sections = set(args.sections.split(","))
    model, _ = train_forest(quick=False)
    from clients import Registry

    rows: list[str] = []
    with tempfile.TemporaryDirectory(prefix="bench-against-ref-") as tmp_text, ExitStack() as stack:
        tmp = Path(tmp_text)
        this = export(args.this, tmp / "this") if args.this else ROOT
        roots = {"ref": export(args.ref, tmp / "ref"), "this": this}
        for root in roots.values():
            compile_bytecode(root)
        backends: list[tuple[str, dict[str, str | None]]] = [
            ("sqlite", {"ref": None, "this": None})
        ]
        if not args.no_postgres and "concurrent" in sections:
            urls = {side: stack.enter_context(pg_database(f"_{side}")) for side in roots}
            if all(urls.values()):
                backends.append(("postgresql", urls))
        servers: dict[tuple[str, str], Server] = {}
        try:
            for backend, urls in backends:
                for side, root in roots.items():
                    label = f"{backend}-{side}"
                    server = start_modelport(tmp, urls[side], label, root=root)
                    servers[(backend, side)] = server
                    with Registry(server.url) as reg:
                        reg.push(model, "forest", targets="onnx", wait=True, timeout=900)
            print(f"cores: {os.cpu_count()}, load average: {os.getloadavg()}", flush=True)
            if "concurrent" in sections:
                for backend, _ in backends:
                    runs = side_by_side(
                        args.rounds,
                        {
                            side: lambda s=servers[(backend, side)]: concurrent(  # type: ignore[misc]
                                s.url, PATH, args.threads, args.each
                            )
                            for side in roots
                        },
                        args.idle_wait,
                    )
                    tag = f"{args.threads} threads x {args.each} {backend}"
                    rows.append(
                        row(
                            f"{tag}: req/s",
                            {k: [x[0] for x in v] for k, v in runs.items()},
                            "req/s",
                            higher=True,
                        )
                    )  # type: ignore[index]
                    rows.append(
                        row(f"{tag}: p99", {k: [x[1] for x in v] for k, v in runs.items()}, "ms")
                    )  # type: ignore[index]
                    print(rows[-2], rows[-1], sep="\n", flush=True)
            if "cold" in sections:
                url = servers[("sqlite", "this")].url
                base = {k: v for k, v in os.environ.items() if not k.startswith("MODELPORT_")}
                code = _COLD_MP.format(n=N_FEATURES)

                def cold(root: Path) -> float:
                    env = {**base, "PYTHONPATH": str(root), "MODELPORT_URL": url}
                    env["MODELPORT_CACHE"] = tempfile.mkdtemp(dir=tmp)
                    return timed_process([sys.executable, "-c", code], env)

                runs = side_by_side(
                    max(args.rounds, 5),
                    {side: lambda r=root: cold(r) for side, root in roots.items()},  # type: ignore[misc]
                    args.idle_wait,
                )
                rows.append(row("cold process, empty cache", runs, "s"))
                print(rows[-1], flush=True)
        finally:
            for server in servers.values():
                server.stop()
    print()
    print(f"ref = {args.ref}, this = {args.this or ROOT}")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

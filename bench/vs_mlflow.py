"""modelport against MLflow 3.17.2, side by side on this machine, in one run.

Both servers start on loopback with fresh state (MLflow: its own server on SQLite with
local artifacts; modelport: ``modelport serve`` with its embedded default, plus the same
server on PostgreSQL for the metadata rows when one is reachable). Every section
alternates the two sides round by round and first waits (bounded) for the machine to
go idle. Rows printed, each with the ratio MLflow / modelport (> 1: modelport is
faster):

* register / push -> ready (both targets; ONNX only), with modelport's stage timings
* cold process: import + load + first predict (empty cache; warm cache)
* metadata read: serial p50, conditional (304) p50, /healthz p50
* metadata, 32 threads x 50 requests: throughput and p99 (SQLite and PostgreSQL)
* large artifact download through each SDK: MB/s and client RSS growth; a plain GET
* predict batch 1 p50 (and raw onnxruntime on the same graph)

MLflow runs from its own venv (``--mlflow-venv``, default
``~/.cache/modelport-venvs/mlflow-3.17.2``), built on first use with pip.

Usage: ``python bench/vs_mlflow.py [--quick] [--rounds 3] [--json out.json]``.
``--quick`` (CI) uses small sizes and one round; it never fails on a timing, and when
the MLflow venv cannot be built it prints modelport's figures alone.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import pickle
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MLFLOW_VERSION = "3.17.2"
DEFAULT_VENV = Path.home() / ".cache" / "modelport-venvs" / f"mlflow-{MLFLOW_VERSION}"
SIDE = Path(__file__).with_name("_mlflow_side.py")
PG_ADMIN = os.environ.get("MODELPORT_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
N_FEATURES = 20


# -- machine --------------------------------------------------------------------------


def _cpu_times() -> tuple[int, int]:
    with open("/proc/stat") as fh:
        fields = [int(v) for v in fh.readline().split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields), idle


def busy_fraction(window: float = 0.5) -> float:
    """The share of all cores busy over ``window`` seconds (0..1)."""
    total0, idle0 = _cpu_times()
    time.sleep(window)
    total1, idle1 = _cpu_times()
    spent = max(total1 - total0, 1)
    return 1.0 - (idle1 - idle0) / spent


def wait_idle(max_wait: float, threshold: float) -> float:
    """Wait until at most ``threshold`` of the CPU is busy, or ``max_wait`` s; the last reading."""
    deadline = time.monotonic() + max_wait
    busy = busy_fraction()
    while busy > threshold and time.monotonic() < deadline:
        busy = busy_fraction(1.0)
    return busy


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- servers --------------------------------------------------------------------------


@dataclass
class Server:
    name: str
    url: str
    proc: subprocess.Popen[bytes]
    log: Path

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def _start(
    name: str,
    cmd: list[str],
    env: dict[str, str],
    port: int,
    ready: str,
    log: Path,
    cwd: Path = ROOT,
) -> Server:
    out = log.open("wb")
    proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=str(cwd))
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited early:\n{log.read_text()[-3000:]}")
        try:
            if get(url, ready)[0] == 200:
                return Server(name, url, proc, log)
        except OSError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"{name} did not start:\n{log.read_text()[-3000:]}")


def start_modelport(tmp: Path, database_url: str | None, label: str, root: Path = ROOT) -> Server:
    """``modelport serve`` from the checkout at ``root`` (this one unless told)."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELPORT_")}
    env["PYTHONPATH"] = str(root)
    if database_url:
        env["MODELPORT_DATABASE_URL"] = database_url
    data = tmp / f"modelport-{label}"
    cmd = [sys.executable, "-m", "clients.cli", "serve", "--data", str(data), "--port", str(port)]
    log = tmp / f"mp-{label}.log"
    return _start(f"modelport ({label})", cmd, env, port, "/readyz", log, cwd=root)


def start_mlflow(python: Path, tmp: Path, workers: int | None = None) -> Server:
    """MLflow's own server with its defaults; ``workers`` only when the default cannot start."""
    tmp.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    cmd = [
        str(python.parent / "mlflow"),
        "server",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--backend-store-uri",
        f"sqlite:///{tmp / 'mlflow.db'}",
        "--artifacts-destination",
        str(tmp / "mlflow-artifacts"),
        *(["--workers", str(workers)] if workers else []),
    ]
    return _start("mlflow", cmd, env, port, "/health", tmp / "mlflow.log")


def start_mlflow_robustly(python: Path, tmp: Path, notes: list[str]) -> Server:
    """On a loaded machine uvicorn's supervisor may give up on a slow worker: retry once
    with the defaults, then with one worker process (noted in the output)."""
    for attempt, workers in enumerate((None, None, 1)):
        try:
            server = start_mlflow(python, tmp / f"mlflow-{attempt}", workers)
        except RuntimeError as exc:
            print(f"MLflow did not start (attempt {attempt + 1}): {str(exc)[-200:]}", flush=True)
            continue
        if workers:
            notes.append(f"MLflow ran with --workers {workers} (its default did not start)")
            print(notes[-1], flush=True)
        return server
    raise RuntimeError("MLflow's server did not start three times")


@contextmanager
def pg_database(suffix: str = "") -> Iterator[str | None]:
    """A fresh PostgreSQL database for the modelport server, or None when none is reachable."""
    try:
        import psycopg
    except ImportError:
        yield None
        return
    name = f"bench_vs_mlflow_{os.getpid()}{suffix}"
    try:
        with psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=2) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.Error:
        yield None
        return
    try:
        yield (
            PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
            + "/"
            + name
        )
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def ensure_mlflow(venv: Path, build: bool) -> Path | None:
    """The MLflow venv's python, built with pip when missing; None when it cannot be had."""
    python = venv / "bin" / "python"
    probe = [str(python), "-c", "import mlflow, sklearn; print(mlflow.__version__)"]
    if python.exists():
        out = subprocess.run(probe, capture_output=True, text=True, check=False)
        if out.returncode == 0 and out.stdout.strip() == MLFLOW_VERSION:
            return python
    if not build:
        return None
    print(f"building the MLflow venv at {venv} (once) ...", flush=True)
    shutil.rmtree(venv, ignore_errors=True)
    venv.parent.mkdir(parents=True, exist_ok=True)
    steps = [
        [sys.executable, "-m", "venv", str(venv)],
        [
            str(python),
            "-m",
            "pip",
            "install",
            "-q",
            f"mlflow=={MLFLOW_VERSION}",
            "scikit-learn==1.9.0",
        ],
    ]
    for step in steps:
        if subprocess.run(step, check=False).returncode != 0:
            print(f"could not build the MLflow venv ({step[-2:]}); MLflow rows are skipped")
            return None
    return python


# -- HTTP -----------------------------------------------------------------------------


def get(url: str, path: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        conn.request("GET", path, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def _timed_gets(
    url: str, path: str, n: int, headers: dict[str, str] | None = None, expect: int = 200
) -> list[float]:
    """``n`` GETs over one keep-alive connection; seconds each."""
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=60)
    times = []
    try:
        for _ in range(n):
            start = time.perf_counter()
            conn.request("GET", path, headers=headers or {})
            resp = conn.getresponse()
            resp.read()
            times.append(time.perf_counter() - start)
            if resp.status != expect:
                raise RuntimeError(f"GET {url}{path} answered {resp.status}, expected {expect}")
    finally:
        conn.close()
    return times


def serial_p50(url: str, path: str, n: int, **kw: Any) -> float:
    _timed_gets(url, path, 10, **kw)
    return statistics.median(_timed_gets(url, path, n, **kw))


def concurrent(url: str, path: str, threads: int, each: int) -> tuple[float, float]:
    """Throughput (req/s) and p99 (s) of ``threads`` clients doing ``each`` GETs."""
    results: list[list[float]] = []
    barrier = threading.Barrier(threads + 1)

    def client() -> None:
        barrier.wait()
        results.append(_timed_gets(url, path, each))

    pool = [threading.Thread(target=client) for _ in range(threads)]
    for t in pool:
        t.start()
    barrier.wait()
    start = time.perf_counter()
    for t in pool:
        t.join()
    wall = time.perf_counter() - start
    times = sorted(x for r in results for x in r)
    return len(times) / wall, times[int(len(times) * 0.99) - 1]


# -- the model ------------------------------------------------------------------------


def train_forest(quick: bool) -> tuple[Any, Any]:
    import numpy as np
    from sklearn.ensemble import RandomForestClassifier

    rng = np.random.default_rng(0)
    x = rng.standard_normal((2000, N_FEATURES)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] * x[:, 2] > 0).astype(np.int64)
    trees = 20 if quick else 50
    model = RandomForestClassifier(n_estimators=trees, max_depth=8, random_state=0).fit(x, y)
    return model, x


def big_onnx(path: Path, megabytes: int) -> Path:
    from tests.factories.onnx_models import linear_model

    n_out = 500
    n_in = max(1, megabytes * 1024 * 1024 // (4 * n_out))
    return linear_model(path, n_in=n_in, n_out=n_out)


def run_side(python: Path, action: str, args: dict[str, Any]) -> dict[str, Any]:
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    env["MLFLOW_ENABLE_ASYNC_LOGGING"] = "false"
    out = subprocess.run(
        [str(python), str(SIDE), action, json.dumps(args)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(f"MLflow side {action} failed:\n{out.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def timed_process(cmd: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    seconds = time.perf_counter() - start
    if out.returncode != 0:
        raise RuntimeError(f"{cmd[:3]} failed:\n{out.stderr[-3000:]}")
    return seconds


# -- results --------------------------------------------------------------------------


@dataclass
class Row:
    measure: str
    mlflow: float | None
    modelport: float | None
    unit: str
    target: str
    higher_is_better: bool = False
    note: str = ""

    def ratio(self) -> str:
        if not self.mlflow or not self.modelport:
            return "n/a"
        r = self.modelport / self.mlflow if self.higher_is_better else self.mlflow / self.modelport
        return f"{r:.2f}x"


@dataclass
class Bench:
    args: argparse.Namespace
    tmp: Path
    mlflow_python: Path | None
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def section(self, title: str) -> None:
        busy = wait_idle(self.args.idle_wait, self.args.idle_threshold)
        line = f"-- {title} (CPU busy before: {busy:.0%})"
        print(line, flush=True)
        self.notes.append(line)

    def alternate(
        self, rounds: int, ours: Callable[[], Any], theirs: Callable[[], Any]
    ) -> tuple[list[Any], list[Any]]:
        """Run both sides ``rounds`` times, swapping which goes first each round."""
        mine: list[Any] = []
        other: list[Any] = []
        for i in range(rounds):
            pair = [(ours, mine), (theirs, other)]
            for fn, sink in pair if i % 2 == 0 else pair[::-1]:
                if fn is theirs and self.mlflow_python is None:
                    continue
                sink.append(fn())
        return mine, other


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "n/a"
    if unit == "ms":
        return f"{value * 1000:.3f} ms" if value < 0.01 else f"{value * 1000:.1f} ms"
    if unit == "s":
        return f"{value:.2f} s"
    return f"{value:,.0f} {unit}"


def print_table(rows: list[Row]) -> None:
    head = ("measure", "MLflow", "modelport", "MLflow/modelport", "target")
    body = [
        (r.measure, _fmt(r.mlflow, r.unit), _fmt(r.modelport, r.unit), r.ratio(), r.target)
        for r in rows
    ]
    widths = [max(len(str(line[i])) for line in [head, *body]) for i in range(5)]
    for line in [head, tuple("-" * w for w in widths), *body]:
        print(" | ".join(str(c).ljust(w) for c, w in zip(line, widths, strict=True)))
    for r in rows:
        if r.note:
            print(f"  {r.measure}: {r.note}")


# -- sections -------------------------------------------------------------------------


def bench_push(b: Bench, mp: Server, mlflow: Server | None, model: Any) -> None:
    from clients import Registry

    b.section("register / push -> ready")
    pkl = b.tmp / "forest.pkl"
    pkl.write_bytes(pickle.dumps(model))
    breakdown: list[dict[str, Any]] = []

    def ours(targets: str | None) -> Callable[[], float]:
        def run() -> float:
            with Registry(mp.url) as reg:
                start = time.perf_counter()
                info = reg.push(model, "forest", targets=targets, wait=True, timeout=900)
                seconds = time.perf_counter() - start
                if info.status != "ready":
                    raise RuntimeError(f"push ended {info.status}: {info.error}")
                job = reg.job(str(info.job_id))
                breakdown.append({"targets": targets or "all", **(job.timings or {})})
            return seconds

        return run

    def theirs() -> float:
        assert b.mlflow_python is not None and mlflow is not None
        args = {"model": str(pkl), "url": mlflow.url, "name": "forest", "rounds": 1, "warm": True}
        return float(run_side(b.mlflow_python, "push", args)["push_s"][0])

    rounds = b.args.rounds
    with Registry(mp.url) as reg:  # the SDK's first push pays lazy imports: not timed
        reg.push(model, "warmup", targets="onnx", wait=True, timeout=900)
    both, reg_s = b.alternate(rounds, ours(None), theirs)
    onnx_only, _ = b.alternate(rounds, ours("onnx"), lambda: None)
    b.rows.append(
        Row("register / push -> ready (ONNX + PMML)", _median(reg_s), _median(both), "s", "<= 3 s")
    )
    b.rows.append(
        Row("push -> ready, ONNX only", _median(reg_s), _median(onnx_only), "s", "<= 1 s")
    )
    for entry in breakdown:
        print("   stages:", json.dumps(entry))
    b.notes.extend(f"stages: {json.dumps(e)}" for e in breakdown)


_COLD_MP = (
    "import time; t=time.perf_counter(); import runtime, numpy as np; "
    "m = runtime.load('forest:1', format='onnx'); "
    "m.predict(np.zeros((1, {n}), np.float32)); print(time.perf_counter()-t)"
)
_COLD_MLFLOW = (
    "import time; t=time.perf_counter(); import mlflow.pyfunc, numpy as np; "
    "m = mlflow.pyfunc.load_model('models:/forest/1'); "
    "m.predict(np.zeros((1, {n}), np.float32)); print(time.perf_counter()-t)"
)


def push_forest(b: Bench, mp: Server, mlflow: Server | None, model: Any) -> None:
    """Register 'forest' on both sides, untimed (what the later sections read)."""
    from clients import Registry

    with Registry(mp.url) as reg:
        reg.push(model, "forest", targets="onnx", wait=True, timeout=900)
    if mlflow is not None and b.mlflow_python is not None:
        pkl = b.tmp / "forest.pkl"
        pkl.write_bytes(pickle.dumps(model))
        args = {"model": str(pkl), "url": mlflow.url, "name": "forest", "rounds": 1, "warm": True}
        run_side(b.mlflow_python, "push", args)


def compile_bytecode(root: Path) -> None:
    """Compile the checkout's packages, as an installed package ships them: where
    ``PYTHONDONTWRITEBYTECODE`` is set every fresh process would compile them again."""
    for package in ("runtime", "converters", "registry", "api", "clients"):
        if (root / package).is_dir():
            subprocess.run([sys.executable, "-m", "compileall", "-q", str(root / package)])


def bench_cold(b: Bench, mp: Server, mlflow: Server | None) -> None:
    compile_bytecode(ROOT)  # MLflow's venv has its bytecode from pip
    b.section("cold process: import + load + first predict")
    base = {k: v for k, v in os.environ.items() if not k.startswith("MODELPORT_")}
    code_mp = _COLD_MP.format(n=N_FEATURES)

    def ours(cache: Path | None) -> float:
        env = {**base, "PYTHONPATH": str(ROOT), "MODELPORT_URL": mp.url}
        fresh = Path(tempfile.mkdtemp(dir=b.tmp)) if cache is None else cache
        env["MODELPORT_CACHE"] = str(fresh)
        return timed_process([sys.executable, "-c", code_mp], env)

    def theirs() -> float:
        assert b.mlflow_python is not None and mlflow is not None
        env = {**base, "MLFLOW_TRACKING_URI": mlflow.url}
        env.pop("PYTHONPATH", None)
        return timed_process([str(b.mlflow_python), "-c", _COLD_MLFLOW.format(n=N_FEATURES)], env)

    rounds = max(b.args.rounds, 3)
    empty, other = b.alternate(rounds, lambda: ours(None), theirs)
    warm_dir = b.tmp / "warm-cache"
    ours(warm_dir)
    warm, _ = b.alternate(rounds, lambda: ours(warm_dir), lambda: None)
    b.rows.append(
        Row(
            "cold process: import + load + first predict",
            _median(other),
            _median(empty),
            "s",
            "<= 0.30 s empty cache",
            note=f"warm cache: {_fmt(_median(warm), 's')}",
        )
    )


def bench_metadata(b: Bench, servers: list[Server], mlflow: Server | None) -> None:
    n = 60 if b.args.quick else 400
    each = 10 if b.args.quick else 50
    mf_path = "/api/2.0/mlflow/model-versions/get?name=forest&version=1"
    mp_path = "/api/v1/models/forest/versions/1"
    sqlite = servers[0]
    b.section("metadata reads, serial")
    ours, theirs = b.alternate(
        b.args.rounds,
        lambda: serial_p50(sqlite.url, mp_path, n),
        lambda: serial_p50(mlflow.url, mf_path, n) if mlflow else None,
    )
    b.rows.append(
        Row("metadata read, serial p50", _median(theirs), _median(ours), "ms", "<= 1.5 ms")
    )
    etag = _etag(sqlite.url, mp_path)
    if etag:
        p304 = serial_p50(sqlite.url, mp_path, n, headers={"If-None-Match": etag}, expect=304)
        b.rows.append(Row("metadata read, conditional (304) p50", None, p304, "ms", "-"))
    hz_ours, hz_theirs = b.alternate(
        b.args.rounds,
        lambda: serial_p50(sqlite.url, "/healthz", n),
        lambda: serial_p50(mlflow.url, "/health", n) if mlflow else None,
    )
    b.rows.append(
        Row(
            "/healthz (MLflow /health), serial p50", _median(hz_theirs), _median(hz_ours), "ms", "-"
        )
    )
    for server in servers:
        b.section(f"metadata reads, 32 threads x {each} ({server.name})")
        ours_c, theirs_c = b.alternate(
            b.args.rounds,
            lambda s=server: concurrent(s.url, mp_path, 32, each),  # type: ignore[misc]
            lambda: concurrent(mlflow.url, mf_path, 32, each) if mlflow else None,
        )
        label = server.name.removeprefix("modelport ")
        tput = [x[0] for x in ours_c]
        p99 = [x[1] for x in ours_c]
        tput_m = [x[0] for x in theirs_c if x]
        p99_m = [x[1] for x in theirs_c if x]
        b.rows.append(
            Row(
                f"metadata, 32 threads x {each}: throughput {label}",
                _median(tput_m),
                _median(tput),
                "req/s",
                ">= 2,000 req/s",
                higher_is_better=True,
            )
        )
        b.rows.append(
            Row(
                f"metadata, 32 threads x {each}: p99 {label}",
                _median(p99_m),
                _median(p99),
                "ms",
                "<= 50 ms",
            )
        )


def _etag(url: str, path: str) -> str | None:
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        resp.read()
        return resp.getheader("ETag")
    finally:
        conn.close()


_PULL_MP = (
    "import json, sys, time\n"
    "from clients import Registry\n"
    "def mem(key):  # VmHWM is the peak, reset by exec (ru_maxrss is not)\n"
    "    for line in open('/proc/self/status'):\n"
    "        if line.startswith(key + ':'): return int(line.split()[1]) / 1024\n"
    "base = mem('VmRSS'); t = time.perf_counter()\n"
    "p = Registry(sys.argv[1]).pull('big:1', format='source', dest=sys.argv[2] + '/')\n"
    "s = time.perf_counter() - t\n"
    "peak = mem('VmHWM')\n"
    "print(json.dumps({'seconds': s, 'bytes': p.stat().st_size, 'rss_growth_mb': peak - base}))\n"
)


def bench_download(b: Bench, mp: Server, mlflow: Server | None) -> None:
    from clients import Registry

    mb = 20 if b.args.quick else b.args.download_mb
    path = big_onnx(b.tmp / "big" / "big.onnx", mb)
    size = path.stat().st_size
    with Registry(mp.url) as reg:
        info = reg.push(path, "big", targets="onnx", wait=True, timeout=900)
        if info.status != "ready":
            raise RuntimeError(f"large model ended {info.status}: {info.error}")
    run_id = None
    if mlflow is not None and b.mlflow_python is not None:
        run_id = run_side(b.mlflow_python, "log_blob", {"url": mlflow.url, "path": str(path)})[
            "run_id"
        ]
    b.section(f"download of a {size / 1e6:.0f} MB artifact")

    def ours(root: Path = ROOT) -> dict[str, Any]:
        dest = Path(tempfile.mkdtemp(dir=b.tmp))
        env = {k: v for k, v in os.environ.items() if not k.startswith("MODELPORT_")}
        env["PYTHONPATH"] = str(root)
        out = subprocess.run(
            [sys.executable, "-c", _PULL_MP, mp.url, str(dest)],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        shutil.rmtree(dest)
        result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
        return result

    def theirs() -> dict[str, Any] | None:
        if run_id is None or b.mlflow_python is None or mlflow is None:
            return None
        dest = Path(tempfile.mkdtemp(dir=b.tmp))
        args = {"url": mlflow.url, "run_id": run_id, "file": path.name, "dest": str(dest)}
        result = run_side(b.mlflow_python, "download", args)
        shutil.rmtree(dest)
        return result

    disk: list[float] = []

    def ours_and_disk() -> dict[str, Any]:
        # the disk alone, just before: a download that is fsynced cannot beat it
        disk.append(size / _disk_write(b.tmp, size) / 1e6)
        return ours()

    mine, other = b.alternate(b.args.rounds, ours_and_disk, theirs)
    if b.args.download_ref:
        _download_against_ref(b, ours, b.args.download_ref)
    rate = [r["bytes"] / r["seconds"] / 1e6 for r in mine]
    rate_m = [r["bytes"] / r["seconds"] / 1e6 for r in other if r]
    rss = max(r["rss_growth_mb"] for r in mine)
    rss_m = max((r["rss_growth_mb"] for r in other if r), default=None)
    plain = []
    for _ in range(b.args.rounds):
        start = time.perf_counter()
        subprocess.run(
            [
                "curl",
                "-s",
                "-o",
                "/dev/null",
                f"{mp.url}/api/v1/models/big/versions/1/artifacts/source",
            ],
            check=True,
        )
        plain.append(size / (time.perf_counter() - start) / 1e6)
    b.rows.append(
        Row(
            f"{size / 1e6:.0f} MB artifact download through the SDK",
            _median(rate_m),
            _median(rate),
            "MB/s",
            ">= 600 MB/s, client RSS flat",
            higher_is_better=True,
            note=f"client RSS growth: modelport {rss:.0f} MB, MLflow "
            f"{'n/a' if rss_m is None else f'{rss_m:.0f} MB'}; the modelport server "
            f"alone to curl: {_fmt(_median(plain), 'MB/s')}; the disk alone (write + "
            f"fsync of as many bytes, same folder, before each pull): "
            f"{_fmt(_median(disk), 'MB/s')} (rounds: {', '.join(f'{d:.0f}' for d in disk)}; "
            f"modelport's pulls: {', '.join(f'{r:.0f}' for r in rate)})",
        )
    )


def _disk_write(folder: Path, size: int) -> float:
    """Seconds to write ``size`` bytes to a new file in ``folder`` and fsync it: what the
    disk allows a verified download (which fsyncs before its rename) at best."""
    block = os.urandom(4 << 20)
    path = Path(tempfile.mkdtemp(dir=folder)) / "disk-alone"
    start = time.perf_counter()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        left = size
        while left > 0:
            left -= os.write(fd, block[: min(left, len(block))])
        os.fsync(fd)
    finally:
        os.close(fd)
    seconds = time.perf_counter() - start
    shutil.rmtree(path.parent)
    return seconds


def _download_against_ref(
    b: Bench, pull: Callable[[Path], dict[str, Any]], ref: str, rounds: int = 6
) -> None:
    """The same pull through this checkout's SDK and through the SDK of git ``ref``
    (its runtime and clients), against the same server, alternated; prints the ratio."""
    old_root = b.tmp / "ref"
    old_root.mkdir()
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", ref, "runtime", "clients"],
        capture_output=True,
        check=True,
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(old_root)], input=archive, check=True)
    runs: dict[str, list[dict[str, Any]]] = {"this checkout": [], ref: []}
    sides = [("this checkout", ROOT), (ref, old_root)]
    for i in range(max(rounds, b.args.rounds)):
        for label, root in sides if i % 2 == 0 else sides[::-1]:
            runs[label].append(pull(root))
    rates = {k: [r["bytes"] / r["seconds"] / 1e6 for r in v] for k, v in runs.items()}
    med = {k: statistics.median(v) for k, v in rates.items()}
    for label, values in rates.items():
        line = (
            f"SDK download, {label}: median {med[label]:.0f} MB/s "
            f"(rounds: {', '.join(f'{v:.0f}' for v in values)}; client RSS growth "
            f"{max(r['rss_growth_mb'] for r in runs[label]):.0f} MB)"
        )
        print(line, flush=True)
        b.notes.append(line)
    line = f"SDK download, this checkout / {ref}: {med['this checkout'] / med[ref]:.2f}x"
    print(line, flush=True)
    b.notes.append(line)


_PREDICT_MP = (
    "import json, statistics, sys, time\n"
    "import numpy as np, onnxruntime as ort, runtime\n"
    "m = runtime.load('forest:1', format='onnx')\n"
    "x = np.asarray(json.loads(sys.argv[1]), np.float32).reshape(1, -1)\n"
    "def p50(fn, n):\n"
    "    fn(); ts = []\n"
    "    for _ in range(n):\n"
    "        t = time.perf_counter(); fn(); ts.append(time.perf_counter() - t)\n"
    "    return statistics.median(ts)\n"
    "sess = ort.InferenceSession(str(m.info.path), providers=['CPUExecutionProvider'])\n"
    "name = sess.get_inputs()[0].name\n"
    "n = int(sys.argv[2])\n"
    "print(json.dumps({'p50_s': p50(lambda: m.predict(x), n),\n"
    "                  'raw_s': p50(lambda: sess.run(None, {name: x}), n)}))\n"
)


def bench_predict(b: Bench, mp: Server, mlflow: Server | None, row: list[float]) -> None:
    b.section("predict batch 1")
    n = 200 if b.args.quick else 2000

    def ours() -> dict[str, Any]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("MODELPORT_")}
        env.update(
            PYTHONPATH=str(ROOT), MODELPORT_URL=mp.url, MODELPORT_CACHE=str(b.tmp / "warm-cache")
        )
        out = subprocess.run(
            [sys.executable, "-c", _PREDICT_MP, json.dumps(row), str(n)],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if out.returncode != 0:
            raise RuntimeError(out.stderr[-3000:])
        result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
        return result

    def theirs() -> dict[str, Any] | None:
        if b.mlflow_python is None or mlflow is None:
            return None
        return run_side(
            b.mlflow_python,
            "predict",
            {"url": mlflow.url, "name": "forest", "row": row, "repeat": n},
        )

    mine, other = b.alternate(b.args.rounds, ours, theirs)
    ours_p50 = _median([r["p50_s"] for r in mine])
    raw = _median([r["raw_s"] for r in mine])
    b.rows.append(
        Row(
            "predict batch 1 p50",
            _median([r["p50_s"] for r in other if r]),
            ours_p50,
            "ms",
            "keep",
            note=f"raw onnxruntime {_fmt(raw, 'ms')} "
            f"({(raw or 0) / (ours_p50 or 1):.2f}x of modelport's time)",
        )
    )


# -- main -----------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="small sizes, one round (CI)")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--download-mb", type=int, default=200)
    p.add_argument(
        "--download-ref",
        help="also pull through the SDK of this git ref, alternated with this checkout's "
        "(e.g. HEAD~3), and print the ratio",
    )
    p.add_argument("--mlflow-venv", type=Path, default=DEFAULT_VENV)
    p.add_argument("--no-mlflow", action="store_true", help="modelport's figures alone")
    p.add_argument("--no-postgres", action="store_true")
    p.add_argument("--idle-wait", type=float, default=30.0, help="max seconds to wait per section")
    p.add_argument("--idle-threshold", type=float, default=0.25, help="busy share counted as idle")
    p.add_argument("--json", type=Path, help="write the rows as JSON here")
    p.add_argument(
        "--sections",
        default="push,cold,metadata,predict,download",
        help="comma list of the sections to run (without push, the model is pushed untimed)",
    )
    args = p.parse_args(argv)
    if args.quick:
        args.rounds, args.idle_wait = 1, min(args.idle_wait, 5.0)
    mlflow_python = None if args.no_mlflow else ensure_mlflow(args.mlflow_venv, build=True)
    print(
        f"cores: {os.cpu_count()}, load average: {os.getloadavg()}, MLflow: "
        f"{MLFLOW_VERSION if mlflow_python else 'not run'}",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="bench-vs-mlflow-") as tmp_text:
        tmp = Path(tmp_text)
        bench = Bench(args, tmp, mlflow_python)
        run_all(bench)
    print()
    print_table(bench.rows)
    if args.json:
        args.json.write_text(
            json.dumps({"rows": [r.__dict__ for r in bench.rows], "notes": bench.notes}, indent=2)
        )
    return 0


def run_all(b: Bench) -> None:
    model, x = train_forest(b.args.quick)
    servers: list[Server] = []
    mlflow = None
    with pg_database() as pg_url:
        try:
            servers.append(start_modelport(b.tmp, None, "sqlite"))
            if b.mlflow_python is not None:
                mlflow = start_mlflow_robustly(b.mlflow_python, b.tmp, b.notes)
            mp = servers[0]
            wanted = set(b.args.sections.split(","))
            if "push" in wanted:
                bench_push(b, mp, mlflow, model)  # every later section reads 'forest'
            elif wanted - {"download"}:  # every later section but download reads it
                push_forest(b, mp, mlflow, model)
            if "cold" in wanted:
                bench_cold(b, mp, mlflow)
            if pg_url and not b.args.no_postgres and "metadata" in wanted:
                pg = start_modelport(b.tmp, pg_url, "postgresql")
                servers.append(pg)
                from clients import Registry

                with Registry(pg.url) as reg:
                    reg.push(model, "forest", targets="onnx", wait=True, timeout=900)
            if "metadata" in wanted:
                bench_metadata(b, servers, mlflow)
            if "predict" in wanted:
                bench_predict(b, mp, mlflow, [float(v) for v in x[0]])
            if "download" in wanted:
                bench_download(b, mp, mlflow)
        finally:
            for server in [*servers, *([mlflow] if mlflow else [])]:
                server.stop()


if __name__ == "__main__":
    raise SystemExit(main())

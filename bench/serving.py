"""``modelport serve-model`` vs MLServer 1.7 (+ mlserver-sklearn), side by side in one run.

    .venv/bin/python bench/serving.py                 # 1 and 32 clients, batch 1 and 64
    .venv/bin/python bench/serving.py --seconds 3 --rounds 1   # quicker
    .venv/bin/python bench/serving.py --robustness    # also the malformed-request table
    .venv/bin/python bench/serving.py --no-mlserver   # modelport alone (no MLServer venv)

Both servers serve the same scikit-learn RandomForest (50 trees): MLServer loads the
fitted forest (joblib) with mlserver-sklearn, as KServe does for scikit-learn; ours
serves its ONNX conversion (skl2onnx, the converter modelport uses) through the
runtime. MLServer runs from its own venv, built on first use under
``~/.cache/modelport-venvs/`` (it pins packages the main venv cannot take).

The load generator is aiohttp on asyncio (bench/_loadgen.py, in a venv of its own),
each virtual client with its own connection, spread over a few processes. Triton's
``perf_analyzer`` is not available from PyPI (the ``perf-analyzer`` package there is an
empty placeholder), and an httpx loop cannot be the generator: on this machine 32
concurrent httpx clients POSTing to a trivial Starlette endpoint get ~100 requests/s
with p99 near 2 s whatever the server, where aiohttp gets ~2,800 (the issue's MLServer
figure at 32 clients, 103 req/s with p99 2.5 s, carries that client ceiling). Each
cell sends the same V2 JSON request from N concurrent clients for a fixed time and
reports requests/s, p50 and p99; the two servers are measured in turn, cell by cell,
on the same machine, for a few interleaved rounds; each cell keeps its best round (on
a shared machine other work only ever slows a round down), and the ratios of those
are printed at the end. The clients run beside the
servers, so on a small machine their own cost caps both servers' figures.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
VENVS = Path(os.environ.get("MODELPORT_VENVS", Path.home() / ".cache" / "modelport-venvs"))
MLSERVER_VENV = VENVS / "mlserver-1.7.1"
# uvloop 0.22+ breaks MLServer 1.7's inference workers (asyncio.get_event_loop in a child)
MLSERVER_PINS = [
    "mlserver==1.7.1",
    "mlserver-sklearn==1.7.1",
    "scikit-learn==1.9.0",
    "uvloop==0.21.0",
]
N_FEATURES = 16


def mlserver_python() -> Path:
    """The MLServer venv's interpreter, building the venv on first use."""
    python = MLSERVER_VENV / "bin" / "python"
    if not (MLSERVER_VENV / "bin" / "mlserver").exists():
        print(f"building {MLSERVER_VENV} (once) ...", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(MLSERVER_VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", *MLSERVER_PINS], check=True)
    return python


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_forest(folder: Path) -> tuple[Path, Path]:
    """A 50-tree RandomForest: (joblib for MLServer, ONNX for modelport)."""
    import joblib
    from skl2onnx import to_onnx
    from sklearn.ensemble import RandomForestClassifier

    rng = np.random.default_rng(0)
    x = rng.normal(size=(2000, N_FEATURES)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] * x[:, 2] > 0).astype(np.int64)
    forest = RandomForestClassifier(n_estimators=50, max_depth=10, random_state=0).fit(x, y)
    joblib_path = folder / "mlserver" / "rf" / "model.joblib"
    joblib_path.parent.mkdir(parents=True)
    joblib.dump(forest, joblib_path)
    onx = to_onnx(forest, x[:1], options={id(forest): {"zipmap": False}}, target_opset=17)
    onnx_path = folder / "rf.onnx"
    onnx_path.write_bytes(onx.SerializeToString())
    return joblib_path, onnx_path


def start_mlserver(model_dir: Path, log: Path) -> tuple[str, subprocess.Popen[bytes]]:
    port, grpc, metrics = free_port(), free_port(), free_port()
    root = model_dir.parent
    (root / "settings.json").write_text(
        json.dumps(
            {"http_port": port, "grpc_port": grpc, "metrics_port": metrics, "host": "127.0.0.1"}
        )
    )
    (model_dir / "model-settings.json").write_text(
        json.dumps(
            {
                "name": "rf",
                "implementation": "mlserver_sklearn.SKLearnModel",
                "parameters": {"uri": "./model.joblib"},
            }
        )
    )
    python = mlserver_python()
    cmd = [str(python.parent / "mlserver"), "start", str(root)]
    return _start(cmd, f"http://127.0.0.1:{port}", log, cwd=root)


def start_modelport(onnx_path: Path, log: Path) -> tuple[str, subprocess.Popen[bytes]]:
    port = free_port()
    cmd = [
        sys.executable,
        "-c",
        "from clients.cli import main; main()",
        "serve-model",
        str(onnx_path),
        "--port",
        str(port),
    ]
    env = {"PYTHONPATH": str(ROOT)}
    return _start(cmd, f"http://127.0.0.1:{port}", log, cwd=ROOT, env=env)


def _start(
    cmd: list[str], url: str, log: Path, cwd: Path, env: dict[str, str] | None = None
) -> tuple[str, subprocess.Popen[bytes]]:
    full_env = {**os.environ, **(env or {})}
    proc = subprocess.Popen(
        cmd, cwd=cwd, env=full_env, stdout=log.open("wb"), stderr=subprocess.STDOUT
    )
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{cmd[0]} exited:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{url}/v2/models/rf/ready", timeout=2).status_code == 200:
                return url, proc
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    proc.kill()
    raise RuntimeError(f"{cmd[0]} did not become ready:\n{log.read_text()[-3000:]}")


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def request_body(batch: int, input_name: str) -> bytes:
    rng = np.random.default_rng(batch)
    x = rng.normal(size=(batch, N_FEATURES)).astype(np.float32)
    return json.dumps(
        {
            "inputs": [
                {
                    "name": input_name,
                    "datatype": "FP32",
                    "shape": [batch, N_FEATURES],
                    "data": x.ravel().tolist(),
                }
            ]
        }
    ).encode()


LOADGEN_VENV = VENVS / "loadgen-aiohttp"


def loadgen_python() -> Path:
    """The load generator's interpreter (aiohttp in a venv of its own, built once)."""
    python = LOADGEN_VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(LOADGEN_VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "aiohttp==3.13.2"], check=True)
    return python


def measure(
    url: str, clients: int, batch: int, seconds: float, input_name: str, processes: int
) -> dict[str, float]:
    """Requests/s, p50 and p99 (ms) of ``clients`` concurrent clients over ``seconds``.

    The clients (each with its own connection) are spread over up to ``processes``
    load-generating processes (bench/_loadgen.py); the first second is a warm-up.
    """
    body = request_body(batch, input_name)
    procs = max(1, min(processes, clients))
    shares = [clients // procs + (i < clients % procs) for i in range(procs)]
    python = loadgen_python()  # before the clock starts: the first call builds the venv
    start_at = time.monotonic() + 2.0  # process start-up, then warm-up
    stop_at = start_at + seconds
    script = str(Path(__file__).with_name("_loadgen.py"))
    running = [
        subprocess.Popen(
            [
                str(python),
                script,
                url,
                "/v2/models/rf/infer",
                str(n),
                repr(start_at),
                repr(stop_at),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        for n in shares
    ]
    parts = [json.loads(p.communicate(body, timeout=seconds + 120)[0]) for p in running]
    lat = np.array([x for part in parts for x in part["latencies"]])
    errors = sum(len(part["errors"]) for part in parts)
    return {
        "rps": len(lat) / seconds,
        "p50": float(np.percentile(lat, 50)) * 1000,
        "p99": float(np.percentile(lat, 99)) * 1000,
        "errors": errors,
    }


ROBUSTNESS = {
    "shape/data length mismatch": {"shape": [2, N_FEATURES], "data": [0.0] * N_FEATURES},
    "wrong rank": {"shape": [N_FEATURES], "data": [0.0] * N_FEATURES},
    "wrong feature count": {"shape": [1, 3], "data": [0.0] * 3},
    "strings in FP32": {"shape": [1, 2], "data": ["a", "b"]},
    "zero shape": {"shape": [0, N_FEATURES], "data": []},
    "absurd shape": {"shape": [1 << 40, N_FEATURES], "data": [0.0] * N_FEATURES},
    "negative dims": {"shape": [-1, N_FEATURES], "data": [0.0] * N_FEATURES},
    "wrong input name": {"name": "nope", "shape": [1, N_FEATURES], "data": [0.0] * N_FEATURES},
}


def robustness(url: str, input_name: str) -> dict[str, int]:
    codes = {}
    for label, case in ROBUSTNESS.items():
        tensor = {"name": input_name, "datatype": "FP32", **case}
        resp = httpx.post(f"{url}/v2/models/rf/infer", json={"inputs": [tensor]}, timeout=30)
        codes[label] = resp.status_code
    codes["healthy after"] = httpx.get(f"{url}/v2/health/live", timeout=10).status_code
    return codes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--clients", default="1,32")
    parser.add_argument("--batches", default="1,64")
    parser.add_argument("--robustness", action="store_true")
    parser.add_argument("--processes", type=int, default=4, help="load-generating processes")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds per cell")
    parser.add_argument("--no-mlserver", action="store_true", help="modelport's figures alone")
    args = parser.parse_args()
    clients = [int(c) for c in args.clients.split(",")]
    batches = [int(b) for b in args.batches.split(",")]
    with tempfile.TemporaryDirectory(prefix="bench-serving-") as tmp:
        folder = Path(tmp)
        joblib_path, onnx_path = make_forest(folder)
        servers: dict[str, tuple[str, subprocess.Popen[bytes], str]] = {}
        if not args.no_mlserver:
            url, proc = start_mlserver(joblib_path.parent, folder / "mlserver.log")
            servers["mlserver"] = (url, proc, "predict")
        servers["modelport"] = (*start_modelport(onnx_path, folder / "modelport.log"), "X")
        try:
            results: dict[tuple[str, int, int], dict[str, float]] = {}
            for round_no in range(args.rounds):
                for batch in batches:
                    for n in clients:
                        for label, (url, _, name) in servers.items():
                            r = measure(url, n, batch, args.seconds, name, args.processes)
                            print(
                                f"round {round_no + 1}  {label:>9}  clients={n:<3} "
                                f"batch={batch:<3} {r['rps']:8.1f} req/s  "
                                f"p50 {r['p50']:7.1f} ms  p99 {r['p99']:7.1f} ms  "
                                f"errors {r['errors']}",
                                flush=True,
                            )
                            best = results.get((label, n, batch))
                            if best is None or r["rps"] > best["rps"]:
                                results[(label, n, batch)] = r
            print(
                f"\nbest of {args.rounds} rounds per cell (on a shared machine other work "
                "only ever slows a round down):"
            )
            for (label, n, batch), r in sorted(results.items(), key=lambda kv: kv[0][::-1]):
                print(
                    f"  {label:>9}  clients={n:<3} batch={batch:<3} {r['rps']:8.1f} req/s  "
                    f"p50 {r['p50']:7.1f} ms  p99 {r['p99']:7.1f} ms"
                )
            print("\nratios (modelport / mlserver requests/s):")
            for batch in batches:
                for n in clients:
                    ours = results[("modelport", n, batch)]
                    theirs = results.get(("mlserver", n, batch))
                    if theirs is None:
                        print(f"  clients={n:<3} batch={batch:<3}    n/a   (MLServer not run)")
                        continue
                    print(
                        f"  clients={n:<3} batch={batch:<3} {ours['rps'] / theirs['rps']:6.1f}x"
                        f"   p99 ours {ours['p99']:.1f} ms vs {theirs['p99']:.1f} ms"
                    )
            if args.robustness:
                print("\nmalformed requests (HTTP status: mlserver / modelport):")
                codes = robustness(servers["modelport"][0], "X")
                other: dict[str, int | str] = dict.fromkeys(codes, "n/a")
                if "mlserver" in servers:
                    other.update(robustness(servers["mlserver"][0], "predict"))
                for label in codes:
                    print(f"  {label:<28} {other[label]} / {codes[label]}")
        finally:
            for _, proc, _ in servers.values():
                stop(proc)


if __name__ == "__main__":
    main()

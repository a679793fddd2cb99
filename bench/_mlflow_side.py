"""The MLflow side of bench/vs_mlflow.py, run with the MLflow venv's interpreter.

``python _mlflow_side.py ACTION JSON_ARGS`` prints one JSON object on its last line.
It imports nothing of modelport: the MLflow venv has only MLflow and scikit-learn.
"""

from __future__ import annotations

import json
import os
import pickle
import statistics
import sys
import time
from typing import Any


def _status_mb(key: str) -> float:
    """VmRSS or VmHWM (peak, reset by exec, unlike ru_maxrss) of this process in MB."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    return 0.0


def push(args: dict[str, Any]) -> dict[str, Any]:
    """Log and register the pickled model ``rounds`` times; seconds per registration."""
    import mlflow
    import mlflow.sklearn

    with open(args["model"], "rb") as fh:
        model = pickle.load(fh)  # noqa: S301 - the bench's own pickle, written just now
    mlflow.set_tracking_uri(args["url"])
    times = []
    # the first registration of a process pays lazy imports: with "warm", it is not timed
    for _ in range(int(args["rounds"]) + int(bool(args.get("warm")))):
        start = time.perf_counter()
        with mlflow.start_run():
            mlflow.sklearn.log_model(
                model,
                name="model",
                registered_model_name=args["name"],
                skops_trusted_types=["sklearn.tree._tree.Tree"],
            )
        times.append(time.perf_counter() - start)
    return {"push_s": times[1:] if args.get("warm") else times}


def log_blob(args: dict[str, Any]) -> dict[str, Any]:
    """Log one large file as a run artifact; the run id to download it from."""
    import mlflow

    mlflow.set_tracking_uri(args["url"])
    with mlflow.start_run() as run:
        mlflow.log_artifact(args["path"])
    return {"run_id": run.info.run_id}


def download(args: dict[str, Any]) -> dict[str, Any]:
    """Download the large artifact through the MLflow SDK; seconds and client RSS growth."""
    import mlflow

    mlflow.set_tracking_uri(args["url"])
    base = _status_mb("VmRSS")
    start = time.perf_counter()
    path = mlflow.artifacts.download_artifacts(
        artifact_uri=f"runs:/{args['run_id']}/{args['file']}", dst_path=args["dest"]
    )
    seconds = time.perf_counter() - start
    return {
        "seconds": seconds,
        "bytes": os.path.getsize(path),
        "rss_growth_mb": _status_mb("VmHWM") - base,
    }


def predict(args: dict[str, Any]) -> dict[str, Any]:
    """Median seconds of a batch-1 pyfunc predict."""
    import mlflow.pyfunc
    import numpy as np

    mlflow.set_tracking_uri(args["url"])
    model = mlflow.pyfunc.load_model(f"models:/{args['name']}/1")
    x = np.asarray(args["row"], dtype=np.float32).reshape(1, -1)
    model.predict(x)
    times = []
    for _ in range(int(args["repeat"])):
        start = time.perf_counter()
        model.predict(x)
        times.append(time.perf_counter() - start)
    return {"p50_s": statistics.median(times)}


ACTIONS = {"push": push, "log_blob": log_blob, "download": download, "predict": predict}

if __name__ == "__main__":
    result = ACTIONS[sys.argv[1]](json.loads(sys.argv[2]))
    print(json.dumps(result))

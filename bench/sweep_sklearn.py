"""Sweep over every estimator of scikit-learn's ``all_estimators()``: the converters
called by hand vs the same model through the registry's conversion path.

For each estimator (built as scikit-learn's own test suite builds it,
``_construct_instances``, and fitted on small tabular data that suits its tags):

* ``direct``: skl2onnx / sklearn2pmml called as a user would by hand, the result run
  with onnxruntime / pypmml on the training rows and compared with ``predict``,
  ``predict_proba`` (or ``transform``) within atol 1e-4, rtol 1e-3;
* ``registry``: the estimator saved with skops, checked as an upload is
  (``detect_framework``: skops trust list, estimators with no inference refused), then
  converted and validated by the worker's job code (``converters._worker.run_job``, what
  the registry runs in a subprocess), with no sample: the registry finds the inputs.

A direct pass that the registry does not pass is a regression of the registry's own
layer; the sweep lists them and exits 1. ``--write-matrix`` rewrites the generated
section of docs/support-matrix.md.

Usage: ``python bench/sweep_sklearn.py [--only NAME ...] [--targets onnx,pmml]
[--json out.json] [--write-matrix] [--timeout 180] [--shard i/n]``; shards run side by
side and ``--merge a.json b.json ... --write-matrix`` combines them.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import tempfile
import time
import traceback
import warnings
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._sweep_direct import direct_onnx, direct_pmml  # noqa: E402
from bench._sweep_matrix import write_matrix  # noqa: E402

ATOL, RTOL = 1e-4, 1e-3
SKIP = {"PatchExtractor": "takes images (3-D arrays), not tabular rows"}


class _Timeout(Exception):
    pass


def _alarm(_signum: int, _frame: Any) -> None:
    raise _Timeout


def _data(est: Any) -> tuple[Any, Any, str]:
    """(X, y, input kind) suiting the estimator's tags."""
    tags = est.__sklearn_tags__()
    it, tt = tags.input_tags, tags.target_tags
    rng = np.random.default_rng(0)
    n = 150
    x = rng.uniform(0.1, 3.0, size=(n, 4))
    score = x[:, 0] - x[:, 1] + 0.5 * x[:, 2]
    y_cls = np.digitize(score, np.quantile(score, [1 / 3, 2 / 3])).astype(np.int64)
    y_reg = 1.0 + x @ np.array([1.0, -0.5, 0.25, 0.0]) + 2.0
    if it.dict:
        keys = ["a", "b", "c"]
        rows = [{k: float(v) for k, v in zip(keys, r, strict=False) if v > 1.0} for r in x]
        return rows, y_cls, "dict"
    if it.string:
        words = np.array(["red", "green", "blue", "fast", "slow", "big"])
        docs = [" ".join(words[rng.integers(0, 6, 4)]) for _ in range(n)]
        return docs, y_cls, "text"
    if tt.two_d_labels and not it.two_d_array:
        return (
            [tuple(sorted({int(a), int(b)})) for a, b in rng.integers(0, 4, (n, 2))],
            None,
            "sets",
        )
    if tt.one_d_labels and not it.two_d_array:
        return y_cls, None, "labels"
    if it.one_d_array and not it.two_d_array:
        return x[:, 0], y_reg, "1d"
    if it.categorical:
        x = rng.integers(0, 4, size=(n, 4)).astype(np.float64)
        y_cls = (x[:, 0] + x[:, 1] > 3).astype(np.int64) + (x[:, 2] > 2)
    kind = tags.estimator_type
    if tt.multi_output and not tt.single_output:
        y = (
            np.column_stack([y_cls, (y_cls + 1) % 3])
            if kind == "classifier"
            else np.column_stack([y_reg, 2 * y_reg])
        )
        return x, y, "matrix"
    return x, y_cls if kind == "classifier" else y_reg, "matrix"


def _fit(cls: Any) -> tuple[Any, Any, str]:
    from sklearn.utils._test_common.instance_generator import _construct_instances

    est = next(iter(_construct_instances(cls)))
    x, y, kind = _data(est)
    if kind in ("labels", "sets"):
        est.fit(x)
    elif est.__sklearn_tags__().target_tags.required or y is not None and kind == "matrix":
        try:
            est.fit(x, y)
        except TypeError:
            est.fit(x)
    else:
        est.fit(x)
    return est, x, kind


def _registry(est: Any, folder: Path, targets: list[str]) -> dict[str, dict[str, Any]]:
    import skops.io as sio

    from converters import REQUEST_FILE, WorkerRequest, detect_framework
    from converters._worker import run_job

    (folder / "input").mkdir(parents=True)
    path = folder / "input" / "m.skops"
    sio.dump(est, path)
    try:
        framework = detect_framework(path, path.name)
    except Exception as exc:  # noqa: BLE001 - an upload refusal is a result
        return {t: {"status": "refused", "reason": str(exc)} for t in targets}
    request = WorkerRequest(
        source="input/m.skops", filename="m.skops", framework=framework, targets=tuple(targets)
    )
    (folder / REQUEST_FILE).write_text(request.to_json())
    result = run_job(folder).to_dict()
    if result.get("error"):
        return {t: {"status": "refused", "reason": result["error"]} for t in targets}
    out = {}
    for art in result["artifacts"]:
        validation = art.get("validation") or {}
        reason = art.get("error") or ""
        findings = [
            f"{f['set']}/{f['output']}: {f['explanation']}"
            for f in validation.get("findings") or []
            if f["status"] != "agrees"
        ]
        if art["status"] in ("passed", "weak") and validation.get("missing_outputs"):
            reason = f"lacks output(s) {', '.join(validation['missing_outputs'])}"
        out[art["format"]] = {
            "status": art["status"],
            "reason": reason,
            "findings": findings[:2],
        }
    return out


def _one(name: str, cls: Any, targets: list[str], timeout: int) -> dict[str, Any]:
    row: dict[str, Any] = {"estimator": name, "direct": {}, "registry": {}}
    if name in SKIP:
        row["skipped"] = SKIP[name]
        return row
    signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(timeout)
    start = time.perf_counter()
    try:
        est, x, kind = _fit(cls)
        row["input"] = kind
        for target in targets:
            fn = direct_onnx if target == "onnx" else direct_pmml
            row["direct"][target] = fn(est, x, kind, ATOL, RTOL)
        with tempfile.TemporaryDirectory(prefix="mp-sweep-") as tmp:
            row["registry"] = _registry(est, Path(tmp), targets)
    except _Timeout:
        row["error"] = f"timed out after {timeout} s"
    except Exception as exc:  # noqa: BLE001 - recorded per estimator
        row["error"] = f"{type(exc).__name__}: {str(exc)[:300]}"
        row["traceback"] = traceback.format_exc(limit=4)[-1500:]
    finally:
        signal.alarm(0)
    row["seconds"] = round(time.perf_counter() - start, 2)
    return row


def _passes(entry: dict[str, Any] | None, side: str) -> bool:
    if not entry:
        return False
    if side == "direct":
        return bool(entry.get("status") == "pass")
    return entry.get("status") in ("passed", "weak")


def summarise(rows: list[dict[str, Any]], targets: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {"estimators": len(rows)}
    for t in targets:
        direct = [r["estimator"] for r in rows if _passes(r["direct"].get(t), "direct")]
        reg = [r["estimator"] for r in rows if _passes(r["registry"].get(t), "registry")]
        out[t] = {
            "direct": len(direct),
            "registry": len(reg),
            "registry_only": sorted(set(reg) - set(direct)),
            "lost": sorted(set(direct) - set(reg)),
        }
    return out


def _quiet_java() -> None:
    """sklearn2pmml's Java prints its banner and stack traces on the process's stdout and
    stderr: send both to a log file in the temp folder, keep the sweep's lines on stdout."""
    import os

    log = Path(tempfile.gettempdir()) / "mp-sweep-java.log"
    sys.stdout.flush()
    keep = os.dup(1)
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    sys.stdout = os.fdopen(keep, "w", buffering=1)


def _merge(args: argparse.Namespace) -> int:
    by_name: dict[str, dict[str, Any]] = {}
    for path in args.merge:  # a later file's row for an estimator replaces an earlier one
        for row in json.loads(path.read_text())["rows"]:
            by_name[row["estimator"]] = row
    rows = sorted(by_name.values(), key=lambda r: r["estimator"])
    targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    summary = summarise(rows, targets)
    print(json.dumps(summary, indent=1))
    if args.json:
        args.json.write_text(json.dumps({"summary": summary, "rows": rows}, indent=1, default=str))
    if args.write_matrix:
        write_matrix(ROOT / "docs" / "support-matrix.md", rows, summary, targets)
    return 1 if any(summary[t]["lost"] for t in targets) else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="*", default=None, help="estimator class names")
    parser.add_argument("--targets", default="onnx,pmml")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--write-matrix", action="store_true")
    parser.add_argument("--timeout", type=int, default=180)
    parser.add_argument("--shard", default="1/1", help="run the i-th of n slices, e.g. 2/4")
    parser.add_argument(
        "--merge", nargs="*", type=Path, default=None, help="combine shards' --json files"
    )
    args = parser.parse_args(argv)
    if args.merge:
        return _merge(args)
    warnings.simplefilter("ignore")
    from sklearn.utils import all_estimators

    targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    _quiet_java()
    index, count = (int(v) for v in args.shard.split("/"))
    chosen = [(n, c) for n, c in all_estimators() if not args.only or n in args.only]
    chosen = chosen[index - 1 :: count]
    rows = []
    for i, (name, cls) in enumerate(chosen, 1):
        row = _one(name, cls, targets, args.timeout)
        rows.append(row)
        cells = " ".join(
            f"{t}: {row['direct'].get(t, {}).get('status', '-')}/"
            f"{row['registry'].get(t, {}).get('status', '-')}"
            for t in targets
        )
        print(f"[{i}/{len(chosen)}] {name}: {cells} {row.get('error', '')}", flush=True)
        if args.json:
            args.json.write_text(json.dumps({"rows": rows}, indent=1, default=str))
    summary = summarise(rows, targets)
    print(json.dumps(summary, indent=1))
    if args.json:
        args.json.write_text(json.dumps({"summary": summary, "rows": rows}, indent=1, default=str))
    if args.write_matrix:
        write_matrix(ROOT / "docs" / "support-matrix.md", rows, summary, targets)
    return 1 if any(summary[t]["lost"] for t in targets) else 0


if __name__ == "__main__":
    raise SystemExit(main())

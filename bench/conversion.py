"""Conversion and inference benchmark over the framework case tables.

For each case of tests/frameworks/<framework>.py:

* ``worker``: wall time of the isolated worker (``python -m converters.worker``):
  process start, load, every conversion and every validation;
* ``direct``: the converter library called directly in this process (skl2onnx /
  sklearn2pmml for scikit-learn, onnx.checker for ONNX; for the other frameworks the
  registered converter's ``convert`` in-process, i.e. the library plus our thin wrapper);
* inference of each passed artifact through ``runtime.load_file`` vs the source
  framework (``SourceModel.predict``) at batch 1 and 1024 (median of repeats).

Usage: ``python bench/conversion.py [--framework sklearn] [--repeat 20] [--json out.json]``
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from converters import (  # noqa: E402
    REQUEST_FILE,
    Sample,
    ServerPolicy,
    get_converter,
    get_framework,
)
from tests.frameworks.conftest import case_modules  # noqa: E402
from tests.frameworks.test_cases import prepare_job, run_worker  # noqa: E402


def _median_s(fn: Any, repeat: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _direct(framework: str, target: str, source: Any, out: Path) -> float:
    start = time.perf_counter()
    if framework == "sklearn" and target == "onnx":
        import skl2onnx

        from converters._sklearn import _initial_types, _plain_attributes

        with _plain_attributes():
            skl2onnx.convert_sklearn(
                source.native,
                initial_types=_initial_types(source),
                options={"zipmap": False} if source.kind == "classifier" else None,
                target_opset={"": 18, "ai.onnx.ml": 3},
            )
    elif framework == "sklearn" and target == "pmml":
        from sklearn2pmml import make_pmml_pipeline, sklearn2pmml

        from converters._sklearn_pmml import _fields

        pipe = make_pmml_pipeline(source.native, active_fields=_fields(source))
        sklearn2pmml(pipe, str(out / "direct.pmml"))
    elif framework == "onnx":
        import onnx

        onnx.checker.check_model(str(source.path), full_check=True)
    else:
        sample = Sample(source.generate_inputs(32), origin="generated")
        get_converter(framework, target).convert(source, sample, out / f"direct-{target}")
    return time.perf_counter() - start


def _batch(inputs: dict[str, np.ndarray], rows: int) -> dict[str, np.ndarray]:
    return {k: v[:rows] for k, v in inputs.items()}


def bench_case(case: Any, repeat: int) -> list[dict[str, Any]]:
    import runtime

    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        job = Path(tmp) / "job"
        source_path, request = prepare_job(case, job)
        request = dataclasses.replace(request, framework=case.framework)
        (job / REQUEST_FILE).write_text(request.to_json())
        start = time.perf_counter()
        proc = run_worker(job)
        worker_s = time.perf_counter() - start
        if proc.returncode != 0:
            return [{"case": case.id, "error": proc.stderr[-500:]}]
        result = json.loads((job / "result.json").read_text())
        if result.get("error"):
            return [{"case": case.id, "error": result["error"]}]
        source = get_framework(case.framework).load(
            source_path, source_path.name, {}, ServerPolicy()
        )
        big = source.generate_inputs(1024, seed=1)
        big = {k: np.resize(v, (1024, *v.shape[1:])) for k, v in big.items()}
        for art in result["artifacts"]:
            row: dict[str, Any] = {
                "case": case.id,
                "target": art["format"],
                "status": art["status"],
                "worker_s": worker_s,
                "convert_s": art.get("timings", {}).get("convert_s"),
                "validate_s": art.get("timings", {}).get("validate_s"),
            }
            rows.append(row)
            if art["status"] not in ("passed", "weak"):
                continue
            row["direct_s"] = _direct(case.framework, art["format"], source, Path(tmp))
            model = runtime.load_file(job / art["path"], format=art["format"])
            adapt = getattr(get_converter(case.framework, art["format"]), "adapt_inputs", None)
            for n in (1, 1024):
                feed = _batch(big, n)
                art_feed = adapt(source, feed) if adapt else feed
                row[f"runtime_b{n}_ms"] = 1e3 * _median_s(
                    lambda f=art_feed, m=model: m.run(f), repeat
                )
                row[f"source_b{n}_ms"] = 1e3 * _median_s(lambda f=feed: source.predict(f), repeat)
    return rows


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return str(value)


def _ratio(a: Any, b: Any) -> float | None:
    return a / b if a is not None and b else None


def print_table(rows: list[dict[str, Any]]) -> None:
    """One line per (case, target). ``job_s`` is the whole worker run (every target,
    process start and imports included); ``convert_s``/``validate_s`` are this target's
    share of it; ``direct_s`` calls the library in a warm process."""
    head = (
        "case",
        "target",
        "status",
        "job_s",
        "convert_s",
        "validate_s",
        "direct_s",
        "(conv+val)/direct",
        "rt_b1_ms",
        "src_b1_ms",
        "rt/src_b1",
        "rt_b1024_ms",
        "src_b1024_ms",
        "rt/src_b1024",
    )
    print(" | ".join(head))
    for r in rows:
        if "error" in r:
            print(f"{r['case']} | error: {r['error'][:120]}")
            continue
        c, v = r.get("convert_s"), r.get("validate_s")
        both = c + v if c is not None and v is not None else None
        cells = (
            r["case"],
            r["target"],
            r["status"],
            r["worker_s"],
            c,
            v,
            r.get("direct_s"),
            _ratio(both, r.get("direct_s")),
            r.get("runtime_b1_ms"),
            r.get("source_b1_ms"),
            _ratio(r.get("runtime_b1_ms"), r.get("source_b1_ms")),
            r.get("runtime_b1024_ms"),
            r.get("source_b1024_ms"),
            _ratio(r.get("runtime_b1024_ms"), r.get("source_b1024_ms")),
        )
        print(" | ".join(_fmt(x) for x in cells))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--framework", action="append", default=[])
    parser.add_argument("--case", action="append", default=[], help="only these case ids")
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    rows: list[dict[str, Any]] = []
    for framework, module in case_modules().items():
        if args.framework and framework not in args.framework:
            continue
        for case in module.CASES:
            if args.case and case.id not in args.case:
                continue
            try:
                rows.extend(bench_case(case, args.repeat))
            except Exception as exc:  # noqa: BLE001 - one case must not stop the run
                rows.append({"case": case.id, "error": f"{type(exc).__name__}: {exc}"})
    print_table(rows)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

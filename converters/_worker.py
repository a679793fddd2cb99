"""The isolated conversion process: ``python -m converters.worker JOB_DIR``.

Reads ``JOB_DIR/request.json``, loads the upload, converts it to each target under
``JOB_DIR/out/<target>/``, validates every artifact through the runtime's loaders, and
writes ``JOB_DIR/result.json`` (see docs/architecture.md, "Conversion worker
protocol"). Every failure is caught per artifact; a source that cannot be loaded gives
a result with a top-level ``error`` and no artifacts. While it runs, the worker keeps
``JOB_DIR/progress.json`` up to date (``{"target", "stage", "done", "total"}``) so the
registry can show progress.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import sys
import time
import traceback
from pathlib import Path
from typing import Any

import numpy as np

from converters._base import Sample, SourceModel, Tolerance
from converters._detect import detect_framework
from converters._domain import input_sets
from converters._recipe import recipe_for
from converters._registry import applicable_targets, get_converter, get_framework
from converters._samples import load_sample
from converters._validation import load_artifact, validate
from runtime.errors import InvalidUpload, ModelportError

__all__ = ["main", "run_job"]


def _inside(job_dir: Path, rel: str, what: str) -> Path:
    path = (job_dir / rel).resolve()
    if not path.is_relative_to(job_dir.resolve()):
        raise InvalidUpload(f"request.json {what} {rel!r} points outside the job folder")
    return path


def _describe(exc: BaseException) -> str:
    if isinstance(exc, ModelportError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def _write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(_finite(data), indent=2, default=_json_default, allow_nan=False))
    os.replace(tmp, path)


def _finite(value: Any) -> Any:
    """Strict JSON: non-finite floats become strings (PostgreSQL json refuses NaN)."""
    if isinstance(value, float) and not np.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    return str(value)


class _Progress:
    def __init__(self, job_dir: Path, total: int) -> None:
        self.path = job_dir / "progress.json"
        self.total = total
        self.done = 0

    def stage(self, target: str, stage: str) -> None:
        data = {"target": target, "stage": stage, "done": self.done, "total": self.total}
        with contextlib.suppress(OSError):  # progress is advisory
            _write_json(self.path, data)


def _build_sample(source: SourceModel, sample_path: Path | None) -> tuple[Sample, str | None]:
    """The named input sets (see ``converters._domain.input_sets``) and a note, if any."""
    uploaded = load_sample(sample_path, source.signature) if sample_path is not None else None
    sets = input_sets(source, uploaded)
    by_name = {s.name: s.inputs for s in sets}
    domain = by_name["in-domain"]
    if uploaded is None:
        return Sample(domain, origin="generated", sets=sets), None
    try:
        merged = {k: np.concatenate([uploaded[k], domain[k]], axis=0) for k in domain}
    except (ValueError, KeyError) as exc:
        note = f"uploaded sample used alone (not mergeable with generated rows: {exc})"
        return Sample(uploaded, origin="uploaded", sets=sets), note
    return Sample(merged, origin="uploaded+generated", sets=sets), None


def _tolerance(request: dict[str, Any], default: Tolerance) -> Tolerance:
    given = request.get("tolerance") or {}
    atol, rtol = given.get("atol"), given.get("rtol")
    return Tolerance(
        atol=default.atol if atol is None else float(atol),
        rtol=default.rtol if rtol is None else float(rtol),
    )


def _one_artifact(
    job_dir: Path,
    target: str,
    framework: str,
    source: SourceModel,
    sample: Sample,
    request: dict[str, Any],
    progress: _Progress,
) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "format": target,
        "status": "error",
        "path": None,
        "media_type": None,
        "signature": None,
        "validation": None,
        "converter": None,
        "error": None,
        "timings": {},
    }
    try:
        converter = get_converter(framework, target)
        entry["converter"] = {"name": type(converter).__name__}
        reason = converter.applies(source)
        if reason:
            entry.update(status="skipped", error=reason)
            return entry
        out_dir = job_dir / "out" / target
        progress.stage(target, "converting")
        start = time.perf_counter()
        output = converter.convert(source, sample, out_dir)
        entry["timings"]["convert_s"] = round(time.perf_counter() - start, 4)
        entry.update(
            path=output.path.resolve().relative_to(job_dir.resolve()).as_posix(),
            media_type=output.media_type,
            signature=output.signature.to_dict(),
            converter=output.converter or entry["converter"],
        )
        progress.stage(target, "validating")
        start = time.perf_counter()
        artifact = load_artifact(output.path, target)
        hook = getattr(converter, "adapt_inputs", None)
        adapt = (lambda inputs: hook(source, inputs)) if hook else None
        tolerance = _tolerance(request, converter.tolerance)
        report = validate(source, artifact, sample, tolerance, adapt=adapt, fmt=target)
        report["recipe"] = recipe_for(framework, target, source, sample, tolerance, output)
        entry["timings"]["validate_s"] = round(time.perf_counter() - start, 4)
        entry.update(validation=report, status=report["status"])
        if report["status"] == "failed":
            entry["error"] = f"validation failed: {report['summary']}"
    except Exception as exc:  # noqa: BLE001 - every failure becomes this artifact's error
        entry.update(status="error", error=_describe(exc))
        entry["traceback"] = traceback.format_exc(limit=8)[-4000:]
    return entry


def run_job(job_dir: Path) -> dict[str, Any]:
    """Run the job in ``job_dir`` and return the result written to ``result.json``."""
    job_dir = job_dir.resolve()
    result: dict[str, Any] = {"framework": None, "signature": None, "lineage": {}, "artifacts": []}
    try:
        request = json.loads((job_dir / "request.json").read_text())
        options = dict(request.get("options") or {})
        filename = str(request.get("filename") or "upload")
        source_path = _inside(job_dir, str(request["source"]), "source")
        framework = request.get("framework") or detect_framework(
            source_path, filename, allow_pickle=bool(options.get("allow_pickle"))
        )
        result["framework"] = framework
        start = time.perf_counter()
        source = get_framework(framework).load(source_path, filename, options)
        load_s = round(time.perf_counter() - start, 4)
        sample_rel = request.get("sample")
        sample_path = _inside(job_dir, str(sample_rel), "sample") if sample_rel else None
        sample, note = _build_sample(source, sample_path)
    except Exception as exc:  # noqa: BLE001 - reported in result.json, never raised
        result["error"] = _describe(exc)
        result["traceback"] = traceback.format_exc(limit=8)[-4000:]
        _write_json(job_dir / "result.json", result)
        return result
    result["signature"] = source.signature.to_dict()
    result["lineage"] = {
        "framework": framework,
        "filename": filename,
        "python": platform.python_version(),
        "load_s": load_s,
        "sample": {"origin": sample.origin, "rows": sample.rows, "note": note},
        **dict(getattr(source, "lineage", {}) or {}),
    }
    targets = list(request.get("targets") or applicable_targets(framework))
    progress = _Progress(job_dir, len(targets))
    for target in targets:
        result["artifacts"].append(
            _one_artifact(job_dir, target, framework, source, sample, request, progress)
        )
        progress.done += 1
    progress.stage("", "done")
    _write_json(job_dir / "result.json", result)
    return result


def main(argv: list[str] | None = None) -> int:
    """Entry point; exit code 0 when ``result.json`` was written."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m converters.worker JOB_DIR", file=sys.stderr)
        return 2
    job_dir = Path(args[0])
    if not job_dir.is_dir():
        print(f"job folder {job_dir} does not exist", file=sys.stderr)
        return 2
    try:
        run_job(job_dir)
    except Exception:  # noqa: BLE001 - last resort: the result could not be written
        traceback.print_exc()
        return 1
    return 0

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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from converters._base import ConversionOutput, Sample, SourceModel, Tolerance
from converters._compose import ChainedSource, compose_onnx
from converters._detect import detect_framework
from converters._domain import input_sets
from converters._postprocess import (
    POSTPROCESS_FRAMEWORKS,
    PostProcess,
    PostProcessedSource,
    append_postprocess,
)
from converters._protocol import (
    PROGRESS_FILE,
    REQUEST_FILE,
    RESULT_FILE,
    ArtifactResult,
    WorkerRequest,
    WorkerResult,
)
from converters._recipe import recipe_for
from converters._registry import applicable_targets, get_converter, get_framework
from converters._sample_shapes import sample_shape_options
from converters._samples import load_sample
from converters._validation import load_artifact, validate
from runtime.errors import InvalidUpload, ModelportError

__all__ = ["main", "run_job"]


def _inside(job_dir: Path, rel: str, what: str) -> Path:
    path = (job_dir / rel).resolve()
    if not path.is_relative_to(job_dir.resolve()):
        raise InvalidUpload(f"{REQUEST_FILE} {what} {rel!r} points outside the job folder")
    return path


def _describe(exc: BaseException) -> str:
    if isinstance(exc, ModelportError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def _write_text(path: Path, text: str) -> None:
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


class _Progress:
    def __init__(self, job_dir: Path, total: int) -> None:
        self.path = job_dir / PROGRESS_FILE
        self.total = total
        self.done = 0

    def stage(self, target: str, stage: str) -> None:
        data = {"target": target, "stage": stage, "done": self.done, "total": self.total}
        with contextlib.suppress(OSError):  # progress is advisory
            _write_text(self.path, json.dumps(data))


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


def _tolerance(request: WorkerRequest, default: Tolerance) -> Tolerance:
    return Tolerance(
        atol=default.atol if request.atol is None else request.atol,
        rtol=default.rtol if request.rtol is None else request.rtol,
    )


@dataclass(frozen=True)
class _Loaded:
    """The upload loaded in this process, and what the result says about it."""

    framework: str
    source: SourceModel
    sample: Sample
    lineage: dict[str, Any]
    post: PostProcessedSource | None = None  # the source with its declared post-processing
    chain: ChainedSource | None = None  # a registered transformer in front of the source
    pre_onnx: Path | None = None  # that transformer's validated ONNX artifact

    @property
    def served(self) -> Any:
        """What the ONNX artifact answers: the source behind its declared pre-processing,
        post-processed when declared."""
        return self.post or self.chain or self.source

    @property
    def extended(self) -> bool:
        return self.post is not None or self.chain is not None


def _one_artifact(
    job_dir: Path, target: str, loaded: _Loaded, request: WorkerRequest, progress: _Progress
) -> ArtifactResult:
    timings: dict[str, float] = {}
    converter_info: dict[str, Any] | None = None
    written: dict[str, Any] = {}
    try:
        converter = get_converter(loaded.framework, target)
        converter_info = {"name": type(converter).__name__}
        reason = converter.applies(loaded.source)
        if loaded.extended and target != "onnx":
            reason = "pre- or post-processing is declared; it is part of the ONNX artifact only"
        if reason:
            return ArtifactResult(target, "skipped", converter=converter_info, error=reason)
        progress.stage(target, "converting")
        start = time.perf_counter()
        sample = loaded.chain.network_sample(loaded.sample) if loaded.chain else loaded.sample
        output = converter.convert(loaded.source, sample, job_dir / "out" / target)
        if loaded.chain is not None and loaded.pre_onnx is not None:
            compose_onnx(loaded.pre_onnx, output.path, loaded.chain)
            output.signature = loaded.chain.signature
        if loaded.post is not None:
            output.signature = append_postprocess(output.path, loaded.post)
        timings["convert_s"] = round(time.perf_counter() - start, 4)
        written = {
            "path": output.path.resolve().relative_to(job_dir.resolve()).as_posix(),
            "media_type": output.media_type,
            "signature": output.signature.to_dict(),
            "converter": output.converter or converter_info,
        }
        progress.stage(target, "validating")
        start = time.perf_counter()
        report = _validate(converter, loaded, output, target, request)
        timings["validate_s"] = round(time.perf_counter() - start, 4)
    except Exception as exc:  # noqa: BLE001 - every failure becomes this artifact's error
        return ArtifactResult(
            target,
            "error",
            **{"converter": converter_info, **written},
            error=_describe(exc),
            timings=timings,
            traceback=traceback.format_exc(limit=8)[-4000:],
        )
    status = str(report["status"])
    error = f"validation failed: {report['summary']}" if status == "failed" else None
    return ArtifactResult(
        target, status, **written, validation=report, error=error, timings=timings
    )


def _validate(
    converter: Any,
    loaded: _Loaded,
    output: ConversionOutput,
    target: str,
    request: WorkerRequest,
) -> dict[str, Any]:
    artifact = load_artifact(output.path, target)
    hook = None if loaded.chain else getattr(converter, "adapt_inputs", None)
    source = loaded.source
    adapt = (lambda inputs: hook(source, inputs)) if hook else None
    tolerance = _tolerance(request, converter.tolerance)
    report = validate(loaded.served, artifact, loaded.sample, tolerance, adapt=adapt, fmt=target)
    try:
        report["recipe"] = recipe_for(
            loaded.framework, target, source, loaded.sample, tolerance, output
        )
    except Exception as exc:  # noqa: BLE001 - a missing recipe never fails an artifact
        report["recipe"] = {"error": f"no recipe for this model: {type(exc).__name__}: {exc}"}
    return report


def _load(job_dir: Path, request: WorkerRequest) -> _Loaded:
    source_path = _inside(job_dir, request.source, "source")
    framework = request.framework or detect_framework(
        source_path, request.filename, allow_pickle=request.policy.allow_pickle
    )
    start = time.perf_counter()
    plugin = get_framework(framework)
    source = plugin.load(source_path, request.filename, request.options, request.policy)
    sample_path = _inside(job_dir, request.sample, "sample") if request.sample else None
    reshaped = sample_shape_options(source, sample_path, request.options)
    if reshaped is not None:  # the uploaded sample decides the traced shapes
        source = plugin.load(source_path, request.filename, reshaped, request.policy)
    load_s = round(time.perf_counter() - start, 4)
    chain, pre_onnx = _preprocess(job_dir, request, framework, source)
    sample, note = _build_sample(chain or source, sample_path)
    lineage = {
        "framework": framework,
        "filename": request.filename,
        "python": platform.python_version(),
        "load_s": load_s,
        "sample": {"origin": sample.origin, "rows": sample.rows, "note": note},
        **dict(getattr(source, "lineage", {}) or {}),
    }
    post = None
    if "postprocess" in request.options:
        if framework not in POSTPROCESS_FRAMEWORKS:
            raise InvalidUpload(
                f"option 'postprocess' applies to {', '.join(POSTPROCESS_FRAMEWORKS)} "
                f"uploads, not {framework}"
            )
        spec = PostProcess.from_options(request.options["postprocess"])
        post = PostProcessedSource(chain or source, spec)
        lineage["postprocess"] = dict(request.options["postprocess"])
    if request.preprocess is not None:
        lineage["preprocess"] = request.preprocess.ref
    return _Loaded(framework, source, sample, lineage, post, chain, pre_onnx)


def _preprocess(
    job_dir: Path, request: WorkerRequest, framework: str, source: SourceModel
) -> tuple[ChainedSource | None, Path | None]:
    """The registered transformer chained in front of ``source``, and its ONNX file."""
    pre = request.preprocess
    if pre is None:
        return None, None
    if framework not in POSTPROCESS_FRAMEWORKS:
        raise InvalidUpload(
            f"preprocessing composes in front of {', '.join(POSTPROCESS_FRAMEWORKS)} "
            f"networks, not {framework}"
        )
    path = _inside(job_dir, pre.source, "preprocess source")
    transformer = get_framework("sklearn").load(path, pre.filename, {}, request.policy)
    return ChainedSource(transformer, source), _inside(job_dir, pre.onnx, "preprocess onnx")


def run_job(job_dir: Path) -> WorkerResult:
    """Run the job in ``job_dir`` and return the result written to ``result.json``."""
    job_dir = job_dir.resolve()
    framework = None
    try:
        request = WorkerRequest.from_json((job_dir / REQUEST_FILE).read_bytes())
        framework = request.framework
        loaded = _load(job_dir, request)
    except Exception as exc:  # noqa: BLE001 - reported in result.json, never raised
        failed = WorkerResult(
            framework=framework,
            error=_describe(exc),
            traceback=traceback.format_exc(limit=8)[-4000:],
        )
        _write_text(job_dir / RESULT_FILE, failed.to_json())
        return failed
    targets = list(request.targets or applicable_targets(loaded.framework))
    progress = _Progress(job_dir, len(targets))
    artifacts = []
    for target in targets:
        artifacts.append(_one_artifact(job_dir, target, loaded, request, progress))
        progress.done += 1
    progress.stage("", "done")
    result = WorkerResult(
        framework=loaded.framework,
        signature=loaded.served.signature.to_dict(),
        lineage=loaded.lineage,
        artifacts=tuple(artifacts),
    )
    _write_text(job_dir / RESULT_FILE, result.to_json())
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

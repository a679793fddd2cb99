"""What the pages show, built once from the typed wire documents (``runtime._wire``):
frozen view objects.

The templates read these, and the documents' own typed parts where they fit as they
are (an input set, a finding, a signature), so a template never guesses at a
document's shape. Each builder is a plain function of its document:

>>> v = version_view(VersionDoc.from_json(response.json()))   # doctest: +SKIP
>>> v.artifacts[1].report.rows[0].max_abs                     # doctest: +SKIP
3.1e-07
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlencode

from api.routes.ui._filters import filesize, label, plain
from registry import BrowsePage, ModelSummary
from runtime import FORMAT_PREFERENCE, ArtifactDoc, JobDoc, Signature, SourceDoc, VersionDoc
from runtime._wire import (
    ArtifactFile,
    Finding,
    OutputReport,
    SetReport,
    Tolerance,
    ValidationReport,
)

__all__ = [
    "ArtifactView",
    "FormatRow",
    "JobView",
    "ModelsPage",
    "OutputRow",
    "RecipeView",
    "ReportView",
    "SignatureRow",
    "VersionView",
    "format_rows",
    "job_view",
    "lineage_facts",
    "models_page",
    "report_view",
    "signature_rows",
    "size_delta",
    "version_view",
]

#: a JSON figure of a report: a number, or "inf" / "nan" where it is not finite
Figure = float | int | str | None


# -- the validation report ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OutputRow:
    """One output of the model compared over the deciding input sets, with the
    tolerance it was held to (its own, else the report's)."""

    name: str
    max_abs: Figure
    max_rel: Figure
    atol: float | None
    rtol: float | None
    exact: bool
    ok: bool
    reasons: tuple[str, ...]
    dtype: str


@dataclass(frozen=True, slots=True)
class RecipeView:
    """The script that reproduces the conversion by hand."""

    filename: str
    pip: str
    usage: str
    script: str


@dataclass(frozen=True, slots=True)
class ReportView:
    """A validation report as the version page shows it: a row per output, the input
    sets and findings as the converter wrote them, and the remaining facts as text."""

    rows: tuple[OutputRow, ...] = ()
    facts: tuple[tuple[str, str], ...] = ()
    max_abs: float | None = None
    sets: tuple[SetReport, ...] = ()
    findings: tuple[Finding, ...] = ()
    decided_by: tuple[str, ...] = ()
    recipe: RecipeView | None = None


def _output_row(output: OutputReport, tolerance: Tolerance | None) -> OutputRow:
    tol = output.tolerance or tolerance
    return OutputRow(
        name=output.name,
        max_abs=output.max_abs_diff,
        max_rel=output.max_rel_diff,
        atol=tol.atol if tol else None,
        rtol=tol.rtol if tol else None,
        exact=output.exact,
        ok=output.passed,
        reasons=output.reasons,
        dtype=output.dtype,
    )


def _facts(report: ValidationReport) -> list[tuple[str, str]]:
    """What the tables do not show: tolerance, summary, loader, missing outputs, the
    sample of a report older than its sets, and any field a newer converter added."""
    facts: list[tuple[str, Any]] = [
        ("tolerance", report.tolerance.to_json() if report.tolerance else None),
        ("summary", report.summary),
        ("loader", report.loader),
        ("sample", None if report.sets or not report.sample else report.sample.to_json()),
        ("missing_outputs", report.missing_outputs),
        *report.extra.items(),
    ]
    return [(label(k), plain(v)) for k, v in facts if v not in (None, "", (), [], {})]


def _recipe(recipe: Mapping[str, Any] | None) -> RecipeView | None:
    """The recipe, when there is a script (a recipe may only say why there is none)."""
    if not recipe or not recipe.get("script"):
        return None
    return RecipeView(
        filename=str(recipe.get("filename", "")),
        pip=str(recipe.get("pip", "")),
        usage=str(recipe.get("usage", "")),
        script=str(recipe["script"]),
    )


def report_view(report: ValidationReport | None) -> ReportView:
    """The view of an artifact's validation report (an empty one when there is none)."""
    if report is None:
        return ReportView()
    rows = tuple(_output_row(o, report.tolerance) for o in report.outputs)
    diffs = [float(r.max_abs) for r in rows if isinstance(r.max_abs, int | float)]
    return ReportView(
        rows=rows,
        facts=tuple(_facts(report)),
        max_abs=max(diffs) if diffs else None,
        sets=report.sets,
        findings=report.findings,
        decided_by=report.decided_by,
        recipe=_recipe(report.recipe),
    )


# -- versions and artifacts ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ArtifactView:
    """One artifact of a version, with its validation report read."""

    format: str
    status: str
    sha256: str | None
    size: int | None
    signature: Signature | None
    error: str | None
    files: tuple[ArtifactFile, ...]
    converter: Mapping[str, Any]
    converter_facts: tuple[tuple[str, str], ...]
    report: ReportView
    download_url: str

    @property
    def max_abs(self) -> float | None:
        return self.report.max_abs

    @property
    def downloadable(self) -> bool:
        return bool(self.sha256)


@dataclass(frozen=True, slots=True)
class VersionView:
    """One version of a model, as its page and the versions table show it."""

    name: str
    version: int
    status: str
    framework: str
    source: SourceDoc
    description: str
    tags: Mapping[str, str]
    signature: Signature | None
    lineage: Mapping[str, Any]
    created_by: str | None
    created_at: datetime
    aliases: tuple[str, ...]
    error: str | None
    job_id: str | None
    artifacts: tuple[ArtifactView, ...]


def artifact_view(name: str, number: int, art: ArtifactDoc) -> ArtifactView:
    converter = art.converter or {}
    return ArtifactView(
        format=art.format,
        status=art.status,
        sha256=art.sha256,
        size=art.size,
        signature=art.signature,
        error=art.error,
        files=art.files or (),
        converter=converter,
        converter_facts=tuple((k, plain(v)) for k, v in converter.items()),
        report=report_view(art.validation),
        download_url=(
            f"/api/v1/models/{quote(name, safe='')}/versions/{number}/artifacts/{art.format}"
        ),
    )


def version_view(v: VersionDoc) -> VersionView:
    return VersionView(
        name=v.name,
        version=v.version,
        status=v.status,
        framework=v.framework,
        source=v.source,
        description=v.description,
        tags=v.tags,
        signature=v.signature,
        lineage=v.lineage or {},
        created_by=v.created_by,
        created_at=v.created_at,
        aliases=v.aliases,
        error=v.error,
        job_id=v.job_id,
        artifacts=tuple(artifact_view(v.name, v.version, a) for a in v.artifacts),
    )


# -- the conversion job --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class JobView:
    """The conversion job of a version: status, attempts and where the time went."""

    status: str
    attempts: int
    error: str | None
    created_at: datetime
    waited: str | None
    ran: str | None
    timings: Mapping[str, float]
    stages: tuple[tuple[str, str], ...]


# the stages of a job in the order they happen (see registry._jobs)
_STAGES = ("queue", "prepare", "fork", "load", "convert", "validate", "store")


def _duration(start: datetime | None, end: datetime | None) -> str | None:
    if start is None or end is None:
        return None
    return f"{(end - start).total_seconds():.2f} s"


def _stages(timings: Mapping[str, float]) -> tuple[tuple[str, str], ...]:
    """``(stage, "1.23 s")`` for each stage the job's timings record, in order."""
    return tuple((k, f"{timings[k + '_s']:.2f} s") for k in _STAGES if k + "_s" in timings)


def job_view(job: JobDoc) -> JobView:
    timings = job.timings or {}
    return JobView(
        status=job.status,
        attempts=job.attempts,
        error=job.error,
        created_at=job.created_at,
        waited=_duration(job.created_at, job.started_at),
        ran=_duration(job.started_at, job.finished_at),
        timings=timings,
        stages=_stages(timings),
    )


def lineage_facts(v: VersionView, job: JobView | None) -> list[tuple[str, str]]:
    """The lineage rows after the fixed ones, then the job's timings past its stages."""
    shown = {"framework", "filename"}  # already in the lineage table's first rows
    facts = [(label(k), plain(val)) for k, val in v.lineage.items() if k not in shown]
    if job is not None:
        staged = {f"{k}_s" for k in _STAGES}
        facts += [
            (f"job {label(k)}", plain(val)) for k, val in job.timings.items() if k not in staged
        ]
    return facts


# -- comparing two versions ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SignatureRow:
    """One input or output in either version, and how it changed from A to B."""

    kind: str
    name: str
    a: str | None
    b: str | None
    change: str  # "same" | "added" | "removed" | "changed"


@dataclass(frozen=True, slots=True)
class FormatRow:
    """One artifact format in either version."""

    format: str
    a: ArtifactView | None
    b: ArtifactView | None


def _spec_texts(sig: Signature | None) -> dict[tuple[str, str], str]:
    if sig is None:
        return {}
    out: dict[tuple[str, str], str] = {}
    for kind, specs in (("input", sig.inputs), ("output", sig.outputs)):
        for t in specs:
            out[(kind, t.name)] = f"{t.dtype} {t.shape_text()}"
    return out


def signature_rows(a: VersionView, b: VersionView) -> list[SignatureRow]:
    left, right = _spec_texts(a.signature), _spec_texts(b.signature)
    keys = list(left) + [k for k in right if k not in left]
    rows = []
    for key in keys:
        x, y = left.get(key), right.get(key)
        change = (
            "same" if x == y else "added" if x is None else "removed" if y is None else "changed"
        )
        rows.append(SignatureRow(kind=key[0], name=key[1], a=x, b=y, change=change))
    return rows


def format_rows(a: VersionView, b: VersionView) -> list[FormatRow]:
    left = {x.format: x for x in a.artifacts}
    right = {x.format: x for x in b.artifacts}
    order = ["source", *FORMAT_PREFERENCE]
    formats = sorted(set(left) | set(right), key=lambda f: order.index(f) if f in order else 99)
    return [FormatRow(format=f, a=left.get(f), b=right.get(f)) for f in formats]


def size_delta(a: int | None, b: int | None) -> str:
    """``(+1.2 KiB)`` from A's size to B's; empty when they are equal or unknown."""
    if a is None or b is None or a == b:
        return ""
    sign = "+" if b > a else "−"
    return f"({sign}{filesize(abs(b - a))})"


# -- the models list -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ModelsPage:
    """One page of the models list and the links to the next and the first page."""

    rows: tuple[ModelSummary, ...]
    next_url: str | None
    first_url: str | None


def models_page(found: BrowsePage, params: Mapping[str, str], cursor: str | None) -> ModelsPage:
    """``params`` are the list's query parameters but the cursor, to carry into links."""
    kept = {k: v for k, v in params.items() if k != "cursor" and v}
    return ModelsPage(
        rows=tuple(found.items),
        next_url=(
            "/?" + urlencode({**kept, "cursor": found.next_cursor}) if found.next_cursor else None
        ),
        first_url=("/?" + urlencode(kept)) if cursor else None,
    )

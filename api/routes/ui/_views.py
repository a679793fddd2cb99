"""What the pages show, built once from the registry's documents: frozen view objects.

The templates read these and nothing else of the registry's, so a template never
guesses at a document's shape. Each builder is a plain function of its document:

>>> v = version_view(registry.get_version(ModelRef.parse("fraud-clf:3")))  # doctest: +SKIP
>>> v.artifacts[1].report.rows[0].max_abs                                   # doctest: +SKIP
3.1e-07
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlencode

from api.routes.ui._filters import filesize, label, plain
from registry import Artifact, BrowsePage, Job, ModelSummary, ModelVersion, SourceFile
from runtime import FORMAT_PREFERENCE, Signature

__all__ = [
    "ArtifactView",
    "FindingView",
    "FormatRow",
    "InputSetView",
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
    """One output of the model compared over the deciding input sets."""

    name: str
    max_abs: Figure
    max_rel: Figure
    atol: Figure
    rtol: Figure
    exact: bool
    ok: bool | None
    reasons: tuple[str, ...]
    dtype: str | None


@dataclass(frozen=True, slots=True)
class InputSetView:
    """One named input set the artifact ran on, and whether it decides the status."""

    name: str
    role: str
    rows: int | None
    status: str
    origin: str
    error: str | None


@dataclass(frozen=True, slots=True)
class FindingView:
    """What a reported (not deciding) input set showed about one output."""

    set: str
    output: str | None
    status: str
    max_abs: Figure
    explanation: str


@dataclass(frozen=True, slots=True)
class RecipeView:
    """The script that reproduces the conversion by hand."""

    filename: str
    pip: str
    usage: str
    script: str


@dataclass(frozen=True, slots=True)
class ReportView:
    """A validation report as the version page shows it."""

    rows: tuple[OutputRow, ...] = ()
    facts: tuple[tuple[str, str], ...] = ()
    max_abs: float | None = None
    sets: tuple[InputSetView, ...] = ()
    findings: tuple[FindingView, ...] = ()
    decided_by: tuple[str, ...] = ()
    recipe: RecipeView | None = None


_ABS_KEYS = ("max_abs_diff", "max_abs", "max_abs_error", "abs_diff", "max_absolute_difference")
_REL_KEYS = ("max_rel_diff", "max_rel", "max_rel_error", "rel_diff", "max_relative_difference")
_OK_KEYS = ("passed", "ok", "within_tolerance", "match")
_OUTPUT_KEYS = ("outputs", "per_output", "comparisons", "results")
_TIER_KEYS = ("sets", "findings", "recipe", "decided_by", "sample")


def _first(data: Mapping[str, Any], keys: Iterable[str]) -> Any:
    return next((data[k] for k in keys if k in data and data[k] is not None), None)


def _output_row(item: Mapping[str, Any], tolerance: Mapping[str, Any]) -> OutputRow:
    ok = _first(item, _OK_KEYS)
    own_tol = item.get("tolerance")
    own: Mapping[str, Any] = own_tol if isinstance(own_tol, dict) else {}
    return OutputRow(
        name=str(item.get("name", item.get("output", "?"))),
        max_abs=_first(item, _ABS_KEYS),
        max_rel=_first(item, _REL_KEYS),
        atol=own.get("atol", item.get("atol", tolerance.get("atol"))),
        rtol=own.get("rtol", item.get("rtol", tolerance.get("rtol"))),
        exact=item.get("compare") == "exact" or bool(item.get("exact")),
        ok=None if ok is None else bool(ok),
        reasons=tuple(str(r) for r in item.get("reasons") or []),
        dtype=item.get("dtype"),
    )


def report_view(validation: Mapping[str, Any] | None) -> ReportView:
    """Per-output rows and remaining facts of a validation report, whatever its nesting."""
    if not validation:
        return ReportView()
    tolerance = validation.get("tolerance") or {}
    raw = _first(validation, _OUTPUT_KEYS) or []
    if isinstance(raw, dict):
        raw = [{"name": k, **(v if isinstance(v, dict) else {"value": v})} for k, v in raw.items()]
    rows = tuple(_output_row(item, tolerance) for item in raw if isinstance(item, dict))
    skip = {*_OUTPUT_KEYS, "tolerance", "status", "passed", "weak", *_TIER_KEYS}
    if not validation.get("sets"):
        skip.discard("sample")  # an older report: the sample is its only word on inputs
    facts = [
        (label(k), plain(v))
        for k, v in validation.items()
        if k not in skip and v not in (None, [], {})
    ]
    if tolerance:
        facts.insert(0, ("tolerance", plain(tolerance)))
    diffs = [float(r.max_abs) for r in rows if isinstance(r.max_abs, int | float)]
    recipe = validation.get("recipe")
    return ReportView(
        rows=rows,
        facts=tuple(facts),
        max_abs=max(diffs) if diffs else None,
        sets=tuple(_input_set(s) for s in validation.get("sets") or [] if isinstance(s, dict)),
        findings=tuple(
            _finding(f) for f in validation.get("findings") or [] if isinstance(f, dict)
        ),
        decided_by=tuple(str(n) for n in validation.get("decided_by") or []),
        recipe=_recipe(recipe) if isinstance(recipe, dict) and recipe.get("script") else None,
    )


def _input_set(s: Mapping[str, Any]) -> InputSetView:
    return InputSetView(
        name=str(s.get("name", "?")),
        role=str(s.get("role", "")),
        rows=s.get("rows"),
        status=str(s.get("status", "")),
        origin=str(s.get("origin") or ""),
        error=s.get("error"),
    )


def _finding(f: Mapping[str, Any]) -> FindingView:
    return FindingView(
        set=str(f.get("set", "")),
        output=f.get("output"),
        status=str(f.get("status", "")),
        max_abs=f.get("max_abs_diff"),
        explanation=str(f.get("explanation") or ""),
    )


def _recipe(r: Mapping[str, Any]) -> RecipeView:
    return RecipeView(
        filename=str(r.get("filename", "")),
        pip=str(r.get("pip", "")),
        usage=str(r.get("usage", "")),
        script=str(r["script"]),
    )


# -- versions and artifacts ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ArtifactView:
    """One artifact of a version, with its validation report read."""

    format: str
    status: str
    sha256: str | None
    size: int | None
    media_type: str | None
    signature: dict[str, Any] | None
    error: str | None
    files: tuple[Mapping[str, Any], ...]
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
    source: SourceFile
    description: str
    tags: Mapping[str, str]
    signature: dict[str, Any] | None
    lineage: Mapping[str, Any]
    created_by: str | None
    created_at: datetime
    aliases: tuple[str, ...]
    error: str | None
    job_id: str | None
    artifacts: tuple[ArtifactView, ...]


def artifact_view(name: str, number: int, art: Artifact) -> ArtifactView:
    converter = art.converter or {}
    return ArtifactView(
        format=art.format,
        status=art.status,
        sha256=art.sha256,
        size=art.size,
        media_type=art.media_type,
        signature=art.signature,
        error=art.error,
        files=tuple(art.files or ()),
        converter=converter,
        converter_facts=tuple((k, plain(v)) for k, v in converter.items()),
        report=report_view(art.validation),
        download_url=(
            f"/api/v1/models/{quote(name, safe='')}/versions/{number}/artifacts/{art.format}"
        ),
    )


def version_view(v: ModelVersion) -> VersionView:
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
        aliases=tuple(v.aliases),
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


def job_view(job: Job) -> JobView:
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


def _spec_texts(signature: dict[str, Any] | None) -> dict[tuple[str, str], str]:
    sig = Signature.from_dict(signature)
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

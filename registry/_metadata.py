"""The metadata-store seam: every read and write of models, versions, aliases and jobs.

``Registry`` (the service) and ``JobRunner`` reach the database only through
:class:`MetadataStore`; ``SqlMetadataStore`` (``registry._sql``) implements it over
SQLAlchemy for SQLite and PostgreSQL. References arrive parsed (``runtime.ModelRef``),
so no implementation parses the version grammar.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from registry._browse import BrowsePage, ModelQuery
from registry._domain import Artifact, Job, Model, ModelVersion, Page
from runtime import AliasEvent, AliasTarget, ModelRef

__all__ = [
    "CreatedVersion",
    "JobClaim",
    "JobInput",
    "JobOutcome",
    "MetadataStore",
    "NewVersion",
]


@dataclass(frozen=True, slots=True)
class CreatedVersion:
    """What an accepted upload returns."""

    name: str
    version: int
    status: str
    job_id: str


@dataclass(frozen=True, slots=True)
class NewVersion:
    """A checked upload, its blobs already stored: becomes a version, its source and job."""

    framework: str
    source_filename: str
    source_sha256: str
    source_size: int
    source_media_type: str
    targets: list[str]
    description: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    tolerance: dict[str, float] | None = None
    sample_sha256: str | None = None
    sample_kind: str | None = None
    created_by: str | None = None


@dataclass(frozen=True, slots=True)
class JobClaim:
    """A job this runner took; ``attempts`` counts this attempt."""

    job_id: str
    version_id: int
    attempts: int
    queued_s: float = 0.0  # how long it waited in the queue before this claim


@dataclass(frozen=True, slots=True)
class JobInput:
    """What a claimed job converts: the version's upload as stored."""

    framework: str
    source_filename: str
    source_sha256: str
    targets: list[str]
    options: dict[str, Any]
    tolerance: dict[str, float] | None
    sample_sha256: str | None
    sample_kind: str | None


@dataclass(frozen=True, slots=True)
class JobOutcome:
    """A finished job: its stored artifacts, and ``error`` when none is usable."""

    artifacts: list[Artifact]
    signature: dict[str, Any] | None
    lineage: dict[str, Any]
    timings: dict[str, float]
    error: str | None = None


class MetadataStore(Protocol):
    """Models, versions, aliases and jobs; raises the ``runtime.errors`` not-found errors."""

    # -- reads and writes of the service ----------------------------------------------

    def create_version(self, name: str, new: NewVersion) -> CreatedVersion:
        """Allocate the next version number of ``name`` (creating the model), store the
        version with its source artifact and queue its conversion job, atomically."""
        ...

    def list_models(self, q: str | None, limit: int, cursor: str | None) -> Page[Model]: ...

    def get_model(self, name: str) -> Model: ...

    def list_versions(self, name: str, limit: int, cursor: str | None) -> Page[ModelVersion]: ...

    def get_version(self, ref: ModelRef) -> ModelVersion: ...

    def set_alias(
        self,
        name: str,
        alias: str,
        weights: Mapping[Any, Any],
        changed_by: str | None,
        note: str | None,
    ) -> AliasTarget:
        """Point ``alias`` at ``weights`` (``{3: 100}`` for one version), audited."""
        ...

    def get_alias(self, name: str, alias: str) -> AliasTarget: ...

    def alias_history(self, name: str, alias: str, limit: int) -> list[AliasEvent]: ...

    def delete_alias(
        self, name: str, alias: str, changed_by: str | None, note: str | None
    ) -> None: ...

    def browse(self, query: ModelQuery) -> BrowsePage:
        """The web UI's filtered, sorted models list."""
        ...

    def get_job(self, job_id: str) -> Job:
        """The job without ``progress`` (the runner's files know that)."""
        ...

    def ping(self) -> None:
        """Raise when the store cannot answer (``/readyz``)."""
        ...

    def close(self) -> None: ...

    # -- the job runner ---------------------------------------------------------------

    def claim_job(self) -> JobClaim | None:
        """Take the oldest queued job, safely against other claimers; None when none."""
        ...

    def claim_attempt(self, job_id: str, attempt: int) -> JobClaim | None:
        """Take ``job_id`` for ``attempt`` if it is queued with ``attempt - 1`` attempts
        behind it; None otherwise (a duplicate or stale task message)."""
        ...

    def next_attempt(self, job_id: str) -> JobClaim | None:
        """The attempt a queued job's next message names (None when not queued); claims
        nothing."""
        ...

    def job_input(self, claim: JobClaim) -> JobInput: ...

    # The calls below act only while the job row is still the claim's attempt (running,
    # ``attempts == claim.attempts``): an attempt whose lease expired and was requeued
    # cannot touch the next attempt's job. They return False when that was the case.

    def heartbeat(self, claim: JobClaim) -> bool: ...

    def record_result(self, claim: JobClaim, outcome: JobOutcome) -> bool:
        """Replace the version's converted artifacts and finish version and job."""
        ...

    def retry_job(self, claim: JobClaim, reason: str, timings: dict[str, float]) -> bool:
        """Put a crashed job back in the queue for another attempt."""
        ...

    def fail_job(self, claim: JobClaim, reason: str, timings: dict[str, float]) -> bool: ...

    def requeue(self, job_ids: Collection[str]) -> int:
        """Queue these running jobs again (their runner stopped); how many were."""
        ...

    def requeue_stale(self, beat_before: datetime, keep: Collection[str]) -> int:
        """Queue running jobs whose heartbeat is older than ``beat_before``, except ``keep``."""
        ...

    # -- the broker tier (workers='celery') ----------------------------------------------

    def mark_published(self, job_id: str) -> None:
        """Note that a queued job's message went to the broker."""
        ...

    def unpublished_jobs(
        self, published_before: datetime, created_before: datetime, limit: int
    ) -> list[str]:
        """Queued jobs created before ``created_before`` (their uploader has had time to
        publish them) without a message, or whose message went out before
        ``published_before`` (lost, or never delivered), oldest first."""
        ...

    def job_counts(self) -> list[tuple[str, str, int]]:
        """(framework, status, count) of the queued and running jobs."""
        ...

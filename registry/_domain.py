"""Frozen domain objects: what the registry hands to its callers (never ORM rows)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from runtime import ARTIFACT_FORMATS as _ARTIFACT_FORMATS
from runtime import SERVABLE_STATUSES

T = TypeVar("T")

__all__ = [
    "Artifact",
    "ArtifactStream",
    "Job",
    "Model",
    "ModelVersion",
    "Page",
    "SourceFile",
    "aware",
]

VERSION_STATUSES = ("pending", "converting", "ready", "failed")
JOB_STATUSES = ("queued", "running", "succeeded", "failed")
ARTIFACT_FORMATS = _ARTIFACT_FORMATS
#: Artifact statuses of a converted artifact that may be served (validation passed).
USABLE_STATUSES = SERVABLE_STATUSES


def aware(value: datetime | None) -> datetime | None:
    """SQLite returns naive datetimes; every stored time is UTC."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Model:
    name: str
    description: str
    tags: dict[str, str]
    created_at: datetime
    updated_at: datetime
    latest_version: int | None
    version_count: int
    aliases: dict[str, int]
    alias_weights: dict[str, dict[int, int]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SourceFile:
    filename: str
    sha256: str
    size: int


@dataclass(frozen=True, slots=True)
class Artifact:
    format: str
    sha256: str | None
    size: int | None
    media_type: str | None
    status: str
    validation: dict[str, Any] | None = None
    converter: dict[str, Any] | None = None
    signature: dict[str, Any] | None = None
    files: list[dict[str, Any]] | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class ModelVersion:
    name: str
    version: int
    status: str
    framework: str
    source: SourceFile
    description: str
    tags: dict[str, str]
    signature: dict[str, Any] | None
    lineage: dict[str, Any] | None
    created_by: str | None
    created_at: datetime
    updated_at: datetime
    aliases: list[str]
    error: str | None
    job_id: str | None
    targets: list[str] = field(default_factory=list)
    artifacts: list[Artifact] = field(default_factory=list)
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Job:
    id: str
    kind: str
    name: str
    version: int
    status: str
    attempts: int
    error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    timings: dict[str, float] | None = None
    progress: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class ArtifactStream:
    """An artifact ready for download: its metadata and the blob to read."""

    name: str
    version: int
    artifact: Artifact
    filename: str

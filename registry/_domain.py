"""Frozen domain objects: what the registry hands to its callers (never ORM rows)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Generic, TypeVar

from runtime import ARTIFACT_FORMATS as _ARTIFACT_FORMATS
from runtime import SERVABLE_STATUSES
from runtime._wire import ArtifactDoc, JobDoc, ModelDoc, SourceDoc, VersionDoc

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


#: The registry hands out the wire documents themselves (runtime/_wire.py), built from its
#: rows at the metadata store's edge: one definition of each, no parallel copy.
Model = ModelDoc
SourceFile = SourceDoc
Artifact = ArtifactDoc
ModelVersion = VersionDoc
Job = JobDoc


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

"""Wire models of REST API v1, as specified in docs/architecture.md."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from registry import Alias, Artifact, Job, Model, ModelVersion

__all__ = [
    "AliasBody",
    "AliasOut",
    "ArtifactOut",
    "JobOut",
    "ModelOut",
    "ModelPage",
    "SourceOut",
    "UploadAccepted",
    "VersionOut",
    "VersionPage",
]


class _Wire(BaseModel):
    model_config = ConfigDict(extra="forbid")


class UploadAccepted(_Wire):
    name: str
    version: int
    status: str
    job_id: str


class ModelOut(_Wire):
    name: str
    description: str
    tags: dict[str, str]
    created_at: datetime
    updated_at: datetime
    latest_version: int | None
    version_count: int
    aliases: dict[str, int]

    @classmethod
    def of(cls, m: Model) -> ModelOut:
        return cls(
            name=m.name,
            description=m.description,
            tags=m.tags,
            created_at=m.created_at,
            updated_at=m.updated_at,
            latest_version=m.latest_version,
            version_count=m.version_count,
            aliases=m.aliases,
        )


class ModelPage(_Wire):
    items: list[ModelOut]
    next_cursor: str | None


class SourceOut(_Wire):
    filename: str
    sha256: str
    size: int


class ArtifactOut(_Wire):
    format: str
    sha256: str | None
    size: int | None
    media_type: str | None
    status: str
    validation: dict[str, Any] | None
    converter: dict[str, Any] | None
    signature: dict[str, Any] | None
    files: list[dict[str, Any]] | None
    error: str | None

    @classmethod
    def of(cls, a: Artifact) -> ArtifactOut:
        return cls(
            format=a.format,
            sha256=a.sha256,
            size=a.size,
            media_type=a.media_type,
            status=a.status,
            validation=a.validation,
            converter=a.converter,
            signature=a.signature,
            files=a.files,
            error=a.error,
        )


class VersionOut(_Wire):
    name: str
    version: int
    status: str
    framework: str
    source: SourceOut
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
    targets: list[str]
    options: dict[str, Any]
    artifacts: list[ArtifactOut]

    @classmethod
    def of(cls, v: ModelVersion) -> VersionOut:
        return cls(
            name=v.name,
            version=v.version,
            status=v.status,
            framework=v.framework,
            source=SourceOut(
                filename=v.source.filename, sha256=v.source.sha256, size=v.source.size
            ),
            description=v.description,
            tags=v.tags,
            signature=v.signature,
            lineage=v.lineage,
            created_by=v.created_by,
            created_at=v.created_at,
            updated_at=v.updated_at,
            aliases=v.aliases,
            error=v.error,
            job_id=v.job_id,
            targets=v.targets,
            options=v.options,
            artifacts=[ArtifactOut.of(a) for a in v.artifacts],
        )


class VersionPage(_Wire):
    items: list[VersionOut]
    next_cursor: str | None


class AliasBody(_Wire):
    version: int = Field(ge=1, le=2**31 - 1, description="The version number the alias points to.")


class AliasOut(_Wire):
    name: str
    alias: str
    version: int

    @classmethod
    def of(cls, a: Alias) -> AliasOut:
        return cls(name=a.name, alias=a.alias, version=a.version)


class JobOut(_Wire):
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

    @classmethod
    def of(cls, j: Job) -> JobOut:
        return cls(
            id=j.id,
            kind=j.kind,
            name=j.name,
            version=j.version,
            status=j.status,
            attempts=j.attempts,
            error=j.error,
            created_at=j.created_at,
            started_at=j.started_at,
            finished_at=j.finished_at,
            timings=j.timings,
            progress=j.progress,
        )

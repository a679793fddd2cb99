"""Wire models of REST API v1, as specified in docs/architecture.md."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, StrictInt

from runtime import MAX_VERSION, AliasTarget
from runtime._aliases import MAX_SPLIT

__all__ = [
    "AliasBody",
    "AliasEventOut",
    "AliasHistory",
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
    # from_attributes: a wire model is read field by field from its domain object
    model_config = ConfigDict(extra="forbid", from_attributes=True)

    @classmethod
    def of(cls, obj: object) -> Self:
        """The wire form of a registry domain object (same field names)."""
        return cls.model_validate(obj)


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
    alias_weights: dict[str, dict[int, int]] = Field(
        default_factory=dict,
        description="Every alias's split, version -> percent ({'3': 100} for a plain alias).",
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


class VersionPage(_Wire):
    items: list[VersionOut]
    next_cursor: str | None


class AliasBody(_Wire):
    version: int | None = Field(
        default=None,
        ge=1,
        le=MAX_VERSION,
        description="The one version the alias points to (give this or weights).",
    )
    weights: dict[str, StrictInt] | None = Field(
        default=None,
        max_length=MAX_SPLIT,
        description="A weighted split, version -> percent, summing to 100: "
        '{"3": 90, "4": 10}. Give this or version.',
        examples=[{"3": 90, "4": 10}],
    )
    changed_by: str | None = Field(
        default=None, max_length=200, description="Who made the change (kept in the history)."
    )
    note: str | None = Field(
        default=None, max_length=2000, description="Why (kept in the alias history)."
    )


class AliasOut(_Wire):
    """The alias document (runtime.AliasTarget): ``version`` is the primary version
    (largest weight); ``weights`` is always present, ``{"3": 100}`` for a plain alias."""

    name: str
    alias: str
    version: int
    weights: dict[str, int]
    updated_at: str | None = None

    @classmethod
    def of_target(cls, target: AliasTarget) -> AliasOut:
        return cls.model_validate(target.to_dict())


class AliasEventOut(_Wire):
    id: int
    name: str
    alias: str
    action: str = Field(description="set | delete")
    weights: dict[str, int] | None = Field(description="The split after the change.")
    previous: dict[str, int] | None = Field(description="The split before the change.")
    changed_by: str | None
    note: str | None
    at: str


class AliasHistory(_Wire):
    items: list[AliasEventOut]


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

"""Typed, frozen results of the SDK, built from the REST API's JSON.

Each class keeps the full JSON it came from in ``raw`` so fields the server adds
later stay reachable, and ``to_dict()`` returns it for ``--json`` output.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from runtime import SERVABLE_STATUSES, AliasTarget, Signature

__all__ = [
    "AliasInfo",
    "ArtifactInfo",
    "JobInfo",
    "ModelInfo",
    "PushResult",
    "VersionInfo",
]

READY = "ready"
FAILED = "failed"
SERVABLE = frozenset(SERVABLE_STATUSES)


def _str_or_none(value: Any) -> str | None:
    return None if value is None else str(value)


def _int_or_none(value: Any) -> int | None:
    return None if value is None else int(value)


@dataclass(frozen=True)
class PushResult:
    """The answer to an upload: the new version and the job that processes it."""

    name: str
    version: int
    status: str
    job_id: str | None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PushResult:
        return cls(
            name=str(data["name"]),
            version=int(data["version"]),
            status=str(data.get("status", "pending")),
            job_id=_str_or_none(data.get("job_id")),
            raw=dict(data),
        )

    @property
    def ref(self) -> str:
        return f"{self.name}:{self.version}"

    def to_dict(self) -> dict[str, Any]:
        return dict(self.raw)


@dataclass(frozen=True)
class ArtifactInfo:
    """One stored format of a version (``source``, ``onnx``, ``pmml``, ``savedmodel``)."""

    format: str
    sha256: str | None
    size: int | None
    status: str
    media_type: str | None = None
    validation: dict[str, Any] | None = None
    converter: dict[str, Any] | None = None
    error: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ArtifactInfo:
        return cls(
            format=str(data["format"]),
            sha256=_str_or_none(data.get("sha256")),
            size=_int_or_none(data.get("size")),
            status=str(data.get("status", "")),
            media_type=_str_or_none(data.get("media_type")),
            validation=data.get("validation"),
            converter=data.get("converter"),
            error=_str_or_none(data.get("error")),
            raw=dict(data),
        )

    @property
    def servable(self) -> bool:
        """True when ``runtime.load`` would use this artifact without being forced."""
        return self.status in SERVABLE

    def to_dict(self) -> dict[str, Any]:
        return dict(self.raw)


@dataclass(frozen=True)
class VersionInfo:
    """One immutable version of a model, with its artifacts."""

    name: str
    version: int
    status: str
    framework: str | None
    signature: Signature
    artifacts: tuple[ArtifactInfo, ...]
    aliases: tuple[str, ...] = ()
    description: str | None = None
    tags: dict[str, Any] = field(default_factory=dict)
    source: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    job_id: str | None = None
    created_at: str | None = None
    created_by: str | None = None
    lineage: dict[str, Any] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> VersionInfo:
        return cls(
            name=str(data["name"]),
            version=int(data["version"]),
            status=str(data.get("status", "")),
            framework=_str_or_none(data.get("framework")),
            signature=Signature.from_dict(data.get("signature") or {}),
            artifacts=tuple(ArtifactInfo.from_json(a) for a in data.get("artifacts") or []),
            aliases=tuple(str(a) for a in data.get("aliases") or []),
            description=_str_or_none(data.get("description")),
            tags=dict(data.get("tags") or {}),
            source=dict(data.get("source") or {}),
            error=_str_or_none(data.get("error")),
            job_id=_str_or_none(data.get("job_id")),
            created_at=_str_or_none(data.get("created_at")),
            created_by=_str_or_none(data.get("created_by")),
            lineage=dict(data.get("lineage") or {}),
            raw=dict(data),
        )

    @property
    def ref(self) -> str:
        return f"{self.name}:{self.version}"

    @property
    def done(self) -> bool:
        """True once the version is ``ready`` or ``failed`` (it will not change again)."""
        return self.status in (READY, FAILED)

    def artifact(self, format: str) -> ArtifactInfo | None:
        return next((a for a in self.artifacts if a.format == format), None)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.raw)


@dataclass(frozen=True)
class ModelInfo:
    """A registered model (its versions are listed separately)."""

    name: str
    description: str | None
    tags: dict[str, Any]
    latest_version: int | None
    version_count: int
    aliases: dict[str, int]
    created_at: str | None = None
    updated_at: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ModelInfo:
        return cls(
            name=str(data["name"]),
            description=_str_or_none(data.get("description")),
            tags=dict(data.get("tags") or {}),
            latest_version=_int_or_none(data.get("latest_version")),
            version_count=int(data.get("version_count") or 0),
            aliases={str(k): int(v) for k, v in (data.get("aliases") or {}).items()},
            created_at=_str_or_none(data.get("created_at")),
            updated_at=_str_or_none(data.get("updated_at")),
            raw=dict(data),
        )

    def to_dict(self) -> dict[str, Any]:
        return dict(self.raw)


@dataclass(frozen=True)
class AliasInfo:
    """What an alias points at: ``version`` (the primary, largest weight) and ``weights``
    (version -> percent; ``{3: 100}`` for a plain alias). Decoded by runtime.AliasTarget."""

    name: str
    alias: str
    version: int
    weights: dict[int, int] = field(default_factory=dict)
    updated_at: str | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AliasInfo:
        target = AliasTarget.from_dict(data)
        return cls(
            name=target.name,
            alias=target.alias,
            version=target.version,
            weights=dict(target.weights),
            updated_at=target.updated_at,
        )

    @property
    def target(self) -> AliasTarget:
        """The runtime's document, whose ``pick(key)`` chooses a version."""
        weights = tuple(self.weights.items()) or ((self.version, 100),)
        return AliasTarget(self.name, self.alias, weights, self.updated_at)

    def to_dict(self) -> dict[str, Any]:
        return self.target.to_dict()


@dataclass(frozen=True)
class JobInfo:
    """A unit of conversion work."""

    id: str
    kind: str
    name: str | None
    version: int | None
    status: str
    attempts: int
    error: str | None
    created_at: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> JobInfo:
        return cls(
            id=str(data["id"]),
            kind=str(data.get("kind", "")),
            name=_str_or_none(data.get("name")),
            version=_int_or_none(data.get("version")),
            status=str(data.get("status", "")),
            attempts=int(data.get("attempts") or 0),
            error=_str_or_none(data.get("error")),
            created_at=_str_or_none(data.get("created_at")),
            started_at=_str_or_none(data.get("started_at")),
            finished_at=_str_or_none(data.get("finished_at")),
            raw=dict(data),
        )

    def to_dict(self) -> dict[str, Any]:
        return dict(self.raw)

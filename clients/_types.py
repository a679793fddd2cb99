"""Typed, frozen results of the SDK, built from the REST API's JSON.

The push, version, artifact and job results are the runtime's wire documents
(``runtime/_wire.py``) with a few conveniences: fields the server adds later are kept
in ``extra`` and written back by ``to_dict()``, which gives the JSON for ``--json``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from runtime import SERVABLE_STATUSES, AliasTarget, Signature
from runtime._wire import ArtifactDoc, JobDoc, ModelDoc, UploadDoc, VersionDoc

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


@dataclass(frozen=True, slots=True, eq=False, repr=False)
class PushResult(UploadDoc):
    """The answer to an upload: the new version and the job that processes it (the
    runtime's ``UploadDoc``), with ``to_dict()``."""

    def to_dict(self) -> dict[str, Any]:
        return self.to_json()


@dataclass(frozen=True, slots=True, eq=False, repr=False)
class ArtifactInfo(ArtifactDoc):
    """One stored format of a version (``source``, ``onnx``, ``pmml``, ``savedmodel``):
    the runtime's artifact document (``runtime.ArtifactDoc``), with ``to_dict()``."""

    def to_dict(self) -> dict[str, Any]:
        return self.to_json()

    @property
    def max_abs_diff(self) -> float | None:
        """The largest finite ``max_abs_diff`` of the outputs over the deciding sets."""
        if self.validation is None:
            return None
        found = [o.max_abs_diff for o in self.validation.outputs]
        return max((float(d) for d in found if isinstance(d, int | float)), default=None)


@dataclass(frozen=True, slots=True, eq=False, repr=False)
class VersionInfo(VersionDoc):
    """One immutable version of a model, with its artifacts: the runtime's version
    document (``runtime.VersionDoc``), decoded once; ``to_dict()`` gives its JSON."""

    artifacts: tuple[ArtifactInfo, ...] = ()

    @property
    def done(self) -> bool:
        """True once the version is ``ready`` or ``failed`` (it will not change again)."""
        return self.status in (READY, FAILED)

    def artifact(self, format: str) -> ArtifactInfo | None:
        return next((a for a in self.artifacts if a.format == format), None)

    @property
    def spec(self) -> Signature:
        """The signature, empty while the version has none yet."""
        return self.signature or Signature()

    def to_dict(self) -> dict[str, Any]:
        return self.to_json()


@dataclass(frozen=True, slots=True, eq=False, repr=False)
class ModelInfo(ModelDoc):
    """A registered model (its versions are listed separately): the runtime's model
    document (``runtime._wire.ModelDoc``)."""

    def to_dict(self) -> dict[str, Any]:
        return self.to_json()


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


@dataclass(frozen=True, slots=True, eq=False, repr=False)
class JobInfo(JobDoc):
    """A unit of conversion work: the runtime's job document (``runtime.JobDoc``)."""

    def to_dict(self) -> dict[str, Any]:
        return self.to_json()

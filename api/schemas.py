"""Wire models of REST API v1, as specified in docs/architecture.md.

The model, version, artifact, source, job and upload-answer documents are defined once,
in the runtime (``runtime/_wire.py``); their response models here take their fields
from there.
"""

from __future__ import annotations

import dataclasses
import functools
import operator
import typing
from collections.abc import Mapping
from types import UnionType
from typing import Annotated, Any, Self

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictInt

from runtime import MAX_VERSION, AliasTarget, Signature
from runtime._aliases import MAX_SPLIT
from runtime._wire import (
    ArtifactDoc,
    Document,
    JobDoc,
    ModelDoc,
    SourceDoc,
    UploadDoc,
    VersionDoc,
)

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


def _fields_of(doc: type[Document], nested: Mapping[type, type] | None = None) -> dict[str, Any]:
    """The pydantic fields of a runtime wire document, for a response model that *is* that
    document: tuples are lists, mappings dicts, the nested documents named in ``nested``
    their own response models, and any other nested part (a validation report, a
    signature, a folder's file list) a JSON object as the API has always described it."""
    hints = typing.get_type_hints(doc)
    return {
        f.name: _hint(hints[f.name], nested or {})
        for f in dataclasses.fields(doc)  # type: ignore[arg-type]
        if f.name != doc._extra
    }


def _hint(hint: Any, nested: Mapping[type, type]) -> Any:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, UnionType):
        return functools.reduce(operator.or_, (_hint(a, nested) for a in args))
    if origin is tuple:
        return list[_hint(args[0], nested)]  # type: ignore[misc]
    if origin in (Mapping, dict):
        return dict[_hint(args[0], nested), _hint(args[1], nested)]  # type: ignore[misc]
    if hint in nested:
        return nested[hint]
    if isinstance(hint, type) and issubclass(hint, Document | Signature):
        return _AsJson
    return hint


def _as_json(value: Any) -> Any:
    if isinstance(value, Document):
        return value.to_json()
    return value.to_dict() if isinstance(value, Signature) else value


#: A nested part of a document that the API describes as a plain JSON object.
_AsJson = Annotated[dict[str, Any], BeforeValidator(_as_json)]


class UploadAccepted(_Wire):
    __annotations__ = _fields_of(UploadDoc)


class ModelOut(_Wire):
    __annotations__ = _fields_of(ModelDoc)
    alias_weights = Field(  # type: ignore[var-annotated]  # typed by ModelDoc
        default_factory=dict,
        description="Every alias's split, version -> percent ({'3': 100} for a plain alias).",
    )


class ModelPage(_Wire):
    items: list[ModelOut]
    next_cursor: str | None


class SourceOut(_Wire):
    __annotations__ = _fields_of(SourceDoc)


class ArtifactOut(_Wire):
    __annotations__ = _fields_of(ArtifactDoc)


class VersionOut(_Wire):
    __annotations__ = _fields_of(VersionDoc, {SourceDoc: SourceOut, ArtifactDoc: ArtifactOut})


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
    __annotations__ = _fields_of(JobDoc)
    timings = None
    progress = None

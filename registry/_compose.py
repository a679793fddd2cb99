"""The ``preprocess`` upload option: a registered scikit-learn version in front of a network.

At upload the reference is checked and pinned (``scaler@prod`` becomes ``scaler:3``), so
a resumed job composes the same version; when the job is prepared, the worker gets that
version's source and its validated ONNX artifact.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from converters import POSTPROCESS_FRAMEWORKS
from registry._db import Database
from registry._domain import USABLE_STATUSES
from registry._orm import AliasRow, ArtifactRow, ModelRow, VersionRow
from runtime import ModelRef
from runtime.errors import InvalidModelRef, InvalidUpload

__all__ = ["check_composable", "pin_preprocess", "preprocess_blobs"]

_HINT = 'e.g. {"preprocess": {"model": "scaler:1"}}'


def _version(s: Session, ref: ModelRef) -> VersionRow | None:
    model = s.scalar(select(ModelRow).where(ModelRow.name == ref.name))
    if model is None:
        return None
    query = select(VersionRow).where(VersionRow.model_id == model.id)
    if ref.version is not None:
        return s.scalar(query.where(VersionRow.version == ref.version))
    if ref.alias is not None:
        alias = select(AliasRow.version_id).where(
            AliasRow.model_id == model.id, AliasRow.alias == ref.alias
        )
        return s.scalar(query.where(VersionRow.id.in_(alias)))
    return s.scalar(query.order_by(VersionRow.version.desc()).limit(1))


def _onnx(s: Session, row: VersionRow) -> ArtifactRow | None:
    return s.scalar(
        select(ArtifactRow).where(
            ArtifactRow.version_id == row.id,
            ArtifactRow.format == "onnx",
            ArtifactRow.status.in_(USABLE_STATUSES),
        )
    )


def pin_preprocess(db: Database, options: Mapping[str, Any]) -> dict[str, Any]:
    """``options`` with ``preprocess.model`` pinned to ``name:N``; InvalidUpload if the
    reference is malformed, missing, not scikit-learn or has no validated ONNX."""
    opts = dict(options)
    raw = opts.get("preprocess")
    if raw is None:
        return opts
    if set(raw) != {"model"} or not isinstance(raw.get("model"), str):
        raise InvalidUpload(f"option 'preprocess' takes one key, model (a reference), {_HINT}")
    try:
        ref = ModelRef.parse(raw["model"])
    except InvalidModelRef as exc:
        raise InvalidUpload(f"preprocess model: {exc}") from exc
    with db.read() as s:
        row = _version(s, ref)
        if row is None:
            raise InvalidUpload(f"preprocess model {ref} is not registered; push it first")
        label = f"{ref.name}:{row.version}"
        if row.framework != "sklearn":
            raise InvalidUpload(
                f"preprocess model {label} is a {row.framework} model; name a scikit-learn "
                "transformer (e.g. a fitted StandardScaler or ColumnTransformer)"
            )
        if _onnx(s, row) is None:
            raise InvalidUpload(
                f"preprocess model {label} has no validated ONNX artifact yet (status "
                f"{row.status}); wait until it is ready"
            )
    opts["preprocess"] = {"model": label}
    return opts


def check_composable(framework: str, options: Mapping[str, Any]) -> None:
    """Refuse pre/post-processing for frameworks they do not apply to."""
    for key in ("preprocess", "postprocess"):
        if key in options and framework not in POSTPROCESS_FRAMEWORKS:
            raise InvalidUpload(
                f"option {key!r} applies to {', '.join(POSTPROCESS_FRAMEWORKS)} uploads, "
                f"not {framework}"
            )


def preprocess_blobs(s: Session, options: Mapping[str, Any]) -> tuple[str, str, str, str] | None:
    """(source sha256, source filename, onnx sha256, ``name:N``) of the pinned version."""
    raw = options.get("preprocess")
    if not raw:
        return None
    ref = ModelRef.parse(str(raw["model"]))
    row = _version(s, ref)
    art = None if row is None else _onnx(s, row)
    if row is None or art is None or art.sha256 is None:
        raise InvalidUpload(f"preprocess model {ref} is gone or has no validated ONNX artifact")
    return row.source_sha256, row.source_filename, art.sha256, str(ref)

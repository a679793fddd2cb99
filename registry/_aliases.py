"""Aliases over the database: set (one version or a weighted split), read, delete, audit.

Every change writes the alias row and one ``alias_events`` row in the same transaction,
so moving weights is one audited operation: the history says who moved what to what,
and when. The alias row keeps its primary version in ``version_id`` (what resolution
by alias and the plain alias API read) and a split's weights in ``weights``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from registry._domain import aware
from registry._orm import AliasEventRow, AliasRow, ModelRow, VersionRow, utcnow
from runtime import AliasEvent, AliasTarget
from runtime.errors import AliasNotFound, InvalidWeights, VersionNotFound

__all__ = [
    "alias_history",
    "delete_alias",
    "get_alias",
    "model_alias_weights",
    "no_alias",
    "set_alias",
]

_MAX_CHANGED_BY = 200
_MAX_NOTE = 2000


def no_alias(name: str, alias: str) -> str:
    return (
        f"model {name!r} has no alias {alias!r}; "
        f"set it with PUT /api/v1/models/{name}/aliases/{alias}"
    )


def _find(s: Session, model: ModelRow, alias: str) -> AliasRow | None:
    return s.scalar(select(AliasRow).where(AliasRow.model_id == model.id, AliasRow.alias == alias))


def _split(s: Session, row: AliasRow) -> dict[str, int]:
    """The wire form of a stored alias's weights."""
    if row.weights:
        return {str(k): int(v) for k, v in row.weights.items()}
    number = s.scalar(select(VersionRow.version).where(VersionRow.id == row.version_id))
    return {str(number): 100}


def _target(s: Session, model: ModelRow, row: AliasRow) -> AliasTarget:
    stamp = aware(row.updated_at)
    return AliasTarget.from_dict(
        {
            "name": model.name,
            "alias": row.alias,
            "weights": _split(s, row),
            "updated_at": stamp.isoformat() if stamp else None,
        }
    )


def _audit_text(value: str | None, what: str, limit: int) -> str | None:
    if value is not None and len(value) > limit:
        raise InvalidWeights(f"{what} is {len(value)} characters; keep it under {limit}")
    return value or None


def set_alias(
    s: Session,
    model: ModelRow,
    alias: str,
    weights: Mapping[Any, Any],
    changed_by: str | None = None,
    note: str | None = None,
) -> AliasTarget:
    """Point ``alias`` at ``weights`` (``{3: 100}`` for one version) and audit it."""
    target = AliasTarget(model.name, alias, tuple(dict(weights).items()))
    changed_by = _audit_text(changed_by, "changed_by", _MAX_CHANGED_BY)
    note = _audit_text(note, "note", _MAX_NOTE)
    query = select(VersionRow.version, VersionRow.id).where(
        VersionRow.model_id == model.id, VersionRow.version.in_(target.versions)
    )
    ids: dict[int, int] = {int(v): int(i) for v, i in s.execute(query)}
    missing = [v for v in target.versions if v not in ids]
    if missing:
        raise VersionNotFound(
            f"model {model.name!r} has no version {', '.join(map(str, missing))}; "
            f"an alias can only point at existing versions (see GET /api/v1/models/"
            f"{model.name}/versions)"
        )
    wire = {str(v): w for v, w in target.weights}
    row = _find(s, model, alias)
    previous = None if row is None else _split(s, row)
    now = utcnow()
    if row is None:
        row = AliasRow(model_id=model.id, alias=alias, version_id=ids[target.version])
        s.add(row)
    row.version_id = ids[target.version]
    row.weights = wire if target.is_split else None
    row.updated_at = now
    model.updated_at = now
    s.add(
        AliasEventRow(
            model_id=model.id,
            alias=alias,
            action="set",
            weights=wire,
            previous=previous,
            changed_by=changed_by,
            note=note,
            created_at=now,
        )
    )
    return AliasTarget(model.name, alias, target.weights, now.isoformat())


def get_alias(s: Session, model: ModelRow, alias: str) -> AliasTarget:
    row = _find(s, model, alias)
    if row is None:
        raise AliasNotFound(no_alias(model.name, alias))
    return _target(s, model, row)


def delete_alias(
    s: Session, model: ModelRow, alias: str, changed_by: str | None = None, note: str | None = None
) -> None:
    row = _find(s, model, alias)
    if row is None:
        raise AliasNotFound(no_alias(model.name, alias))
    previous = _split(s, row)
    s.delete(row)
    s.add(
        AliasEventRow(
            model_id=model.id,
            alias=alias,
            action="delete",
            weights=None,
            previous=previous,
            changed_by=_audit_text(changed_by, "changed_by", _MAX_CHANGED_BY),
            note=_audit_text(note, "note", _MAX_NOTE),
            created_at=utcnow(),
        )
    )


def alias_history(s: Session, model: ModelRow, alias: str, limit: int = 50) -> list[AliasEvent]:
    """The alias's changes, newest first; AliasNotFound when it never existed."""
    rows = s.scalars(
        select(AliasEventRow)
        .where(AliasEventRow.model_id == model.id, AliasEventRow.alias == alias)
        .order_by(AliasEventRow.id.desc())
        .limit(max(1, min(int(limit), 500)))
    ).all()
    if not rows and _find(s, model, alias) is None:
        raise AliasNotFound(no_alias(model.name, alias))
    return [
        AliasEvent.from_dict(
            {
                "id": r.id,
                "name": model.name,
                "alias": r.alias,
                "action": r.action,
                "weights": r.weights,
                "previous": r.previous,
                "changed_by": r.changed_by,
                "note": r.note,
                "at": aware(r.created_at).isoformat(),  # type: ignore[union-attr]
            }
        )
        for r in rows
    ]


def model_alias_weights(s: Session, model_ids: list[int]) -> dict[int, dict[str, dict[int, int]]]:
    """Per model id: ``{alias: {version: weight}}`` for every alias (plain ones at 100)."""
    out: dict[int, dict[str, dict[int, int]]] = {i: {} for i in model_ids}
    for mid, alias, weights, number in s.execute(
        select(AliasRow.model_id, AliasRow.alias, AliasRow.weights, VersionRow.version)
        .join(VersionRow, AliasRow.version_id == VersionRow.id)
        .where(AliasRow.model_id.in_(model_ids))
        .order_by(AliasRow.alias)
    ):
        split = {int(k): int(v) for k, v in (weights or {}).items()}
        out[mid][alias] = dict(sorted(split.items())) if split else {int(number): 100}
    return out

"""Read-only queries behind the web UI's models list: search, filter, sort, paginate.

The REST list (``Registry.list_models``) answers the plain ``q`` search; the UI also
filters by tag, alias, framework and validated format and sorts three ways. Each page
costs four small queries whatever the number of models: the filtered, sorted and
keyset-paginated model ids, then the latest versions, aliases and passed artifacts of
just that page's models.

>>> page = browse_models(db, ModelQuery(q="fraud", sort="updated", limit=25))
>>> [m.name for m in page.items], page.next_cursor
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType, SimpleNamespace
from typing import Any, ClassVar

from sqlalchemy import ColumnElement, Select, and_, func, or_, select, tuple_
from sqlalchemy.orm import Session

from registry._cursor import MAX_LIMIT, decode_cursor, encode_cursor
from registry._db import Database
from registry._domain import USABLE_STATUSES, aware
from registry._orm import AliasRow, ArtifactRow, ModelRow, VersionRow
from registry._search import LIKE_ESCAPE, contains_pattern
from runtime.errors import InvalidUpload

__all__ = ["SORTS", "BrowsePage", "ModelQuery", "ModelSummary", "browse_models"]

#: sort key -> label, in the order the UI offers them
SORTS: dict[str, str] = {
    "updated": "recently updated",
    "name": "name",
    "versions": "most versions",
}


class InvalidQuery(InvalidUpload):
    """A list query the UI cannot answer (unknown sort, bad limit)."""


@dataclass(frozen=True, slots=True)
class ModelQuery:
    """What the models list is asked for. Empty strings mean "no filter"."""

    #: sort key -> label, in the order the UI offers them
    SORTS: ClassVar[Mapping[str, str]] = MappingProxyType(SORTS)

    q: str = ""
    tag: str = ""  # "key" (the model has the tag) or "key=value"
    alias: str = ""
    framework: str = ""  # of the latest version
    format: str = ""  # a format the latest version passed validation in
    sort: str = "updated"
    limit: int = 50
    cursor: str | None = None

    @property
    def filtered(self) -> bool:
        return any((self.q, self.tag, self.alias, self.framework, self.format))


@dataclass(frozen=True, slots=True)
class ModelSummary:
    """One row of the models list."""

    name: str
    description: str
    tags: dict[str, str]
    created_at: datetime
    updated_at: datetime
    version_count: int
    latest_version: int | None
    latest_status: str | None
    framework: str | None
    aliases: dict[str, int] = field(default_factory=dict)
    formats_passed: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class BrowsePage:
    items: list[ModelSummary]
    next_cursor: str | None


def browse_models(db: Database, query: ModelQuery) -> BrowsePage:
    """One page of models matching ``query``.

    Raises :class:`InvalidQuery` for an unknown sort or a limit outside 1..200, and the
    cursor error of :func:`registry._cursor.decode_cursor` for a cursor this server
    did not hand out (or one from another sort order).
    """
    if query.sort not in SORTS:
        raise InvalidQuery(
            f"unknown sort {query.sort!r}: use one of {', '.join(SORTS)} (e.g. sort=updated)"
        )
    if not 1 <= query.limit <= MAX_LIMIT:
        raise InvalidQuery(f"invalid limit {query.limit}: use 1..{MAX_LIMIT}")
    after = decode_cursor(query.cursor, list)
    if after is not None and (len(after) != 3 or after[0] != query.sort):
        raise InvalidQuery(
            "this cursor belongs to another sort order: start again from the first page"
        )
    with db.read() as session:
        stats = _version_stats()
        stmt = _filtered(query, stats)
        stmt = _ordered(stmt, query.sort, stats, after)
        rows = session.execute(stmt.limit(query.limit + 1)).all()
        more = len(rows) > query.limit
        rows = rows[: query.limit]
        items = _summaries(session, rows)
    next_cursor = None
    if more and rows:
        last = rows[-1]
        next_cursor = encode_cursor([query.sort, _sort_value(query.sort, last), last.name])
    return BrowsePage(items=items, next_cursor=next_cursor)


def _version_stats() -> Any:
    """Per model: its newest version number and its number of versions.

    Correlated scalar subqueries, answered from the (model_id, version) unique index,
    so a page sorted by name or update time never aggregates every version.
    """
    latest = (
        select(func.max(VersionRow.version))
        .where(VersionRow.model_id == ModelRow.id)
        .correlate(ModelRow)
        .scalar_subquery()
    )
    count = (
        select(func.count(VersionRow.id))
        .where(VersionRow.model_id == ModelRow.id)
        .correlate(ModelRow)
        .scalar_subquery()
    )
    return SimpleNamespace(latest=latest, n=count)


def _filtered(query: ModelQuery, stats: Any) -> Select[Any]:
    stmt = select(
        ModelRow.id,
        ModelRow.name,
        ModelRow.updated_at,
        stats.n.label("n"),
        stats.latest.label("latest"),
    )
    conditions: list[ColumnElement[bool]] = []
    if query.q:
        pattern = contains_pattern(query.q.lower())
        conditions.append(
            or_(
                func.lower(ModelRow.name).like(pattern, escape=LIKE_ESCAPE),
                func.lower(ModelRow.description).like(pattern, escape=LIKE_ESCAPE),
            )
        )
    if query.tag:
        conditions.append(_tag_condition(query.tag))
    if query.alias:
        conditions.append(
            select(AliasRow.id)
            .where(AliasRow.model_id == ModelRow.id, AliasRow.alias == query.alias)
            .exists()
        )
    if query.framework or query.format:
        latest = (
            select(VersionRow.id)
            .where(VersionRow.model_id == ModelRow.id, VersionRow.version == stats.latest)
            .correlate(ModelRow)
        )
        if query.framework:
            latest = latest.where(VersionRow.framework == query.framework)
        if query.format:
            passed = select(ArtifactRow.id).where(
                ArtifactRow.version_id == VersionRow.id,
                ArtifactRow.format == query.format,
                ArtifactRow.status.in_(USABLE_STATUSES),
            )
            latest = latest.where(passed.exists())
        conditions.append(latest.exists())
    return stmt.where(*conditions)


def _tag_condition(tag: str) -> ColumnElement[bool]:
    key, sep, value = tag.partition("=")
    key = key.strip()
    if not key or '"' in key or "\\" in key:
        return ModelRow.id.is_(None)  # no stored tag key can match
    extracted: ColumnElement[str] = ModelRow.tags[key].as_string()
    if sep:
        return extracted == value.strip()
    return extracted.is_not(None)


def _ordered(stmt: Select[Any], sort: str, stats: Any, after: list[Any] | None) -> Select[Any]:
    count = stats.n
    if sort == "name":
        if after is not None:
            stmt = stmt.where(ModelRow.name > str(after[2]))
        return stmt.order_by(ModelRow.name)
    if sort == "versions":
        if after is not None:
            n = int(after[1])
            stmt = stmt.where(or_(count < n, and_(count == n, ModelRow.name > str(after[2]))))
        return stmt.order_by(count.desc(), ModelRow.name)
    if after is not None:
        when = _parse_when(after[1])
        stmt = stmt.where(
            or_(
                ModelRow.updated_at < when,
                and_(ModelRow.updated_at == when, ModelRow.name > str(after[2])),
            )
        )
    return stmt.order_by(ModelRow.updated_at.desc(), ModelRow.name)


def _parse_when(value: Any) -> datetime:
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        raise InvalidQuery(
            "invalid cursor: start again from the first page (omit cursor)"
        ) from None


def _sort_value(sort: str, row: Any) -> Any:
    if sort == "versions":
        return int(row.n)
    if sort == "updated":
        return row.updated_at.isoformat()  # as stored: naive on SQLite, aware on PostgreSQL
    return None


def _summaries(session: Session, rows: Sequence[Any]) -> list[ModelSummary]:
    if not rows:
        return []
    ids = [r.id for r in rows]
    columns = (
        ModelRow.id,
        ModelRow.name,
        ModelRow.description,
        ModelRow.tags,
        ModelRow.created_at,
        ModelRow.updated_at,
    )
    models = {m.id: m for m in session.execute(select(*columns).where(ModelRow.id.in_(ids)))}
    pairs = [(r.id, r.latest) for r in rows if r.latest is not None]
    latest: dict[int, Any] = {}
    if pairs:
        stmt = select(
            VersionRow.id, VersionRow.model_id, VersionRow.status, VersionRow.framework
        ).where(tuple_(VersionRow.model_id, VersionRow.version).in_(pairs))
        latest = {v.model_id: v for v in session.execute(stmt)}
    aliases: dict[int, dict[str, int]] = {i: {} for i in ids}
    for model_id, alias, number in session.execute(
        select(AliasRow.model_id, AliasRow.alias, VersionRow.version)
        .join(VersionRow, VersionRow.id == AliasRow.version_id)
        .where(AliasRow.model_id.in_(ids))
    ):
        aliases[model_id][alias] = number
    passed: dict[int, list[str]] = {}
    version_ids = [v.id for v in latest.values()]
    if version_ids:
        for version_id, fmt in session.execute(
            select(ArtifactRow.version_id, ArtifactRow.format)
            .where(
                ArtifactRow.version_id.in_(version_ids),
                ArtifactRow.format != "source",
                ArtifactRow.status.in_(USABLE_STATUSES),
            )
            .order_by(ArtifactRow.format)
        ):
            passed.setdefault(version_id, []).append(fmt)
    out = []
    for r in rows:
        m = models[r.id]
        v = latest.get(r.id)
        summary = ModelSummary(
            name=m.name,
            description=m.description or "",
            tags=dict(m.tags or {}),
            created_at=aware(m.created_at),  # type: ignore[arg-type]
            updated_at=aware(m.updated_at),  # type: ignore[arg-type]
            version_count=int(r.n),
            latest_version=r.latest,
            latest_status=v.status if v else None,
            framework=v.framework if v else None,
            aliases=aliases[r.id],
            formats_passed=passed.get(v.id, []) if v else [],
        )
        out.append(summary)
    return out

"""The SQLAlchemy metadata store (SQLite and PostgreSQL): the one home of the registry's SQL.

>>> store = SqlMetadataStore(Database.from_settings(settings))    # doctest: +SKIP
>>> store.get_version(ModelRef.parse("fraud-clf@production")).version  # doctest: +SKIP
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, String, and_, cast, func, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from registry import _aliases
from registry._browse import BrowsePage, ModelQuery, browse_models
from registry._cursor import MAX_LIMIT, decode_cursor, encode_cursor
from registry._db import Database
from registry._domain import (
    ARTIFACT_FORMATS,
    Artifact,
    Job,
    Model,
    ModelVersion,
    Page,
    SourceFile,
    aware,
)
from registry._errors import JobNotFound
from registry._metadata import CreatedVersion, JobClaim, JobInput, JobOutcome, NewVersion
from registry._orm import AliasRow, ArtifactRow, JobRow, ModelRow, VersionRow, utcnow
from registry._search import LIKE_ESCAPE, contains_pattern
from runtime import AliasEvent, AliasTarget, ModelRef, check_name
from runtime.errors import AliasNotFound, ModelNotFound, VersionNotFound

__all__ = ["SqlMetadataStore"]

_CLAIM_TRIES = 5


class SqlMetadataStore:
    """:class:`registry.MetadataStore` over one :class:`Database`."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def close(self) -> None:
        self.db.dispose()

    def ping(self) -> None:
        with self.db.read() as s:
            s.execute(text("SELECT 1"))

    # -- versions --------------------------------------------------------------------

    def create_version(self, name: str, new: NewVersion) -> CreatedVersion:
        now = utcnow()
        job_id = uuid.uuid4().hex
        with self.db.write() as s:
            insert = sqlite_insert if self.db.is_sqlite else pg_insert
            s.execute(
                insert(ModelRow)
                .values(
                    name=name,
                    description=new.description,
                    tags={},
                    last_version=0,
                    created_at=now,
                    updated_at=now,
                )
                .on_conflict_do_nothing(index_elements=["name"])
            )
            model_id, number = s.execute(
                update(ModelRow)
                .where(ModelRow.name == name)
                .values(last_version=ModelRow.last_version + 1, updated_at=now)
                .returning(ModelRow.id, ModelRow.last_version)
            ).one()
            model = s.get(ModelRow, model_id)
            assert model is not None
            if new.tags:
                model.tags = {**(model.tags or {}), **new.tags}
            if not model.description and new.description:
                model.description = new.description
            row = VersionRow(
                model_id=model_id,
                version=number,
                status="pending",
                created_at=now,
                updated_at=now,
                framework=new.framework,
                source_filename=new.source_filename,
                source_sha256=new.source_sha256,
                source_size=new.source_size,
                sample_sha256=new.sample_sha256,
                sample_kind=new.sample_kind,
                targets=new.targets,
                tolerance=new.tolerance,
                description=new.description,
                tags=new.tags,
                options=new.options or None,
                created_by=new.created_by,
            )
            s.add(row)
            s.flush()
            s.add(
                ArtifactRow(
                    version_id=row.id,
                    format="source",
                    sha256=new.source_sha256,
                    size=new.source_size,
                    media_type=new.source_media_type,
                    status="stored",
                    created_at=now,
                )
            )
            s.add(
                JobRow(
                    id=job_id, kind="convert", version_id=row.id, status="queued", created_at=now
                )
            )
        return CreatedVersion(name, number, "pending", job_id)

    def list_models(self, q: str | None, limit: int, cursor: str | None) -> Page[Model]:
        limit = max(1, min(limit, MAX_LIMIT))
        after = decode_cursor(cursor, str)
        stmt = select(ModelRow).order_by(ModelRow.name).limit(limit + 1)
        if after is not None:
            stmt = stmt.where(ModelRow.name > after)
        if q:
            pattern = contains_pattern(q)
            stmt = stmt.where(
                or_(
                    ModelRow.name.ilike(pattern, escape=LIKE_ESCAPE),
                    ModelRow.description.ilike(pattern, escape=LIKE_ESCAPE),
                    cast(ModelRow.tags, String).ilike(pattern, escape=LIKE_ESCAPE),
                )
            )
        with self.db.read() as s:
            rows = list(s.scalars(stmt))
            more = len(rows) > limit
            rows = rows[:limit]
            items = _models(s, rows)
        return Page(items, encode_cursor(rows[-1].name) if more else None)

    def get_model(self, name: str) -> Model:
        check_name(name)
        with self.db.read() as s:
            return _models(s, [_model_row(s, name)])[0]

    def list_versions(self, name: str, limit: int, cursor: str | None) -> Page[ModelVersion]:
        check_name(name)
        limit = max(1, min(limit, MAX_LIMIT))
        before = decode_cursor(cursor, int)
        with self.db.read() as s:
            model = _model_row(s, name)
            stmt = (
                select(VersionRow)
                .where(VersionRow.model_id == model.id)
                .order_by(VersionRow.version.desc())
                .limit(limit + 1)
            )
            if before is not None:
                stmt = stmt.where(VersionRow.version < before)
            rows = list(s.scalars(stmt))
            more = len(rows) > limit
            rows = rows[:limit]
            items = _versions(s, model, rows)
        return Page(items, encode_cursor(rows[-1].version) if more else None)

    def get_version(self, ref: ModelRef) -> ModelVersion:
        with self.db.read() as s:
            model = _model_row(s, ref.name)
            row = _resolve(s, model, ref)
            return _versions(s, model, [row])[0]

    def set_alias(
        self,
        name: str,
        alias: str,
        weights: Mapping[Any, Any],
        changed_by: str | None,
        note: str | None,
    ) -> AliasTarget:
        with self.db.write() as s:
            return _aliases.set_alias(s, _model_row(s, name), alias, weights, changed_by, note)

    def get_alias(self, name: str, alias: str) -> AliasTarget:
        with self.db.read() as s:
            return _aliases.get_alias(s, _model_row(s, name), alias)

    def alias_history(self, name: str, alias: str, limit: int) -> list[AliasEvent]:
        with self.db.read() as s:
            return _aliases.alias_history(s, _model_row(s, name), alias, limit)

    def delete_alias(self, name: str, alias: str, changed_by: str | None, note: str | None) -> None:
        with self.db.write() as s:
            _aliases.delete_alias(s, _model_row(s, name), alias, changed_by, note)

    def browse(self, query: ModelQuery) -> BrowsePage:
        return browse_models(self.db, query)

    def get_job(self, job_id: str) -> Job:
        with self.db.read() as s:
            found = s.execute(
                select(JobRow, VersionRow.version, ModelRow.name)
                .join(VersionRow, JobRow.version_id == VersionRow.id)
                .join(ModelRow, VersionRow.model_id == ModelRow.id)
                .where(JobRow.id == job_id)
            ).first()
            if found is None:
                raise JobNotFound(
                    f"no job with id {job_id!r}; job ids come from the upload's response"
                )
            job, number, name = found
            return _job(job, name, number)

    # -- jobs --------------------------------------------------------------------------

    def claim_job(self) -> JobClaim | None:
        """The conditional UPDATE makes two claimers safe; a lost race tries again."""
        for _ in range(_CLAIM_TRIES):
            with self.db.write() as s:
                row = s.execute(
                    select(JobRow.id, JobRow.version_id, JobRow.attempts, JobRow.created_at)
                    .where(JobRow.status == "queued")
                    .order_by(JobRow.created_at, JobRow.id)
                    .limit(1)
                ).first()
                if row is None:
                    return None
                job_id, version_id, attempts, created_at = row
                now = utcnow()
                res = s.execute(
                    update(JobRow)
                    .where(JobRow.id == job_id, JobRow.status == "queued")
                    .values(
                        status="running", attempts=attempts + 1, started_at=now, heartbeat_at=now
                    )
                )
                if res.rowcount != 1:  # type: ignore[attr-defined]
                    continue
                s.execute(
                    update(VersionRow)
                    .where(VersionRow.id == version_id)
                    .values(status="converting", updated_at=now)
                )
                waited = max((now - (aware(created_at) or now)).total_seconds(), 0.0)
                return JobClaim(job_id, version_id, attempts + 1, waited)
        return None

    def job_input(self, claim: JobClaim) -> JobInput:
        with self.db.read() as s:
            v = s.get(VersionRow, claim.version_id)
            assert v is not None
            return JobInput(
                framework=v.framework,
                source_filename=v.source_filename,
                source_sha256=v.source_sha256,
                targets=list(v.targets or []),
                options=dict(v.options or {}),
                tolerance=v.tolerance,
                sample_sha256=v.sample_sha256,
                sample_kind=v.sample_kind,
            )

    def claim_attempt(self, job_id: str, attempt: int) -> JobClaim | None:
        now = utcnow()
        with self.db.write() as s:
            res = s.execute(
                update(JobRow)
                .where(
                    JobRow.id == job_id,
                    JobRow.status == "queued",
                    JobRow.attempts == attempt - 1,
                )
                .values(status="running", attempts=attempt, started_at=now, heartbeat_at=now)
            )
            if res.rowcount != 1:  # type: ignore[attr-defined]
                return None
            version_id, created_at = s.execute(
                select(JobRow.version_id, JobRow.created_at).where(JobRow.id == job_id)
            ).one()
            s.execute(
                update(VersionRow)
                .where(VersionRow.id == version_id)
                .values(status="converting", updated_at=now)
            )
        waited = max((now - (aware(created_at) or now)).total_seconds(), 0.0)
        return JobClaim(job_id, version_id, attempt, waited)

    def next_attempt(self, job_id: str) -> JobClaim | None:
        with self.db.read() as s:
            row = s.execute(
                select(JobRow.version_id, JobRow.attempts).where(
                    JobRow.id == job_id, JobRow.status == "queued"
                )
            ).first()
        return None if row is None else JobClaim(job_id, row[0], row[1] + 1)

    def heartbeat(self, claim: JobClaim) -> bool:
        with self.db.write() as s:
            res = s.execute(update(JobRow).where(_attempt(claim)).values(heartbeat_at=utcnow()))
            return bool(res.rowcount == 1)  # type: ignore[attr-defined]

    def record_result(self, claim: JobClaim, outcome: JobOutcome) -> bool:
        usable = outcome.error is None
        now = utcnow()
        with self.db.write() as s:
            res = s.execute(
                update(JobRow)
                .where(_attempt(claim))
                .values(
                    status="succeeded" if usable else "failed",
                    error=outcome.error,
                    finished_at=now,
                    timings=outcome.timings,
                )
            )
            if res.rowcount != 1:  # type: ignore[attr-defined]
                return False
            v = s.get(VersionRow, claim.version_id)
            assert v is not None
            for old in s.scalars(
                select(ArtifactRow).where(
                    ArtifactRow.version_id == v.id, ArtifactRow.format != "source"
                )
            ):
                s.delete(old)
            s.flush()
            for a in outcome.artifacts:
                s.add(_artifact_row(v.id, a, now))
            if outcome.signature is not None:
                v.signature = outcome.signature
            v.lineage = outcome.lineage
            v.status = "ready" if usable else "failed"
            v.error = outcome.error
            v.updated_at = now
        return True

    def retry_job(self, claim: JobClaim, reason: str, timings: dict[str, float]) -> bool:
        with self.db.write() as s:
            res = s.execute(
                update(JobRow)
                .where(_attempt(claim))
                .values(status="queued", error=reason, timings=timings, published_at=None)
            )
            return bool(res.rowcount == 1)  # type: ignore[attr-defined]

    def fail_job(self, claim: JobClaim, reason: str, timings: dict[str, float]) -> bool:
        now = utcnow()
        with self.db.write() as s:
            res = s.execute(
                update(JobRow)
                .where(_attempt(claim))
                .values(status="failed", error=reason, finished_at=now, timings=timings)
            )
            if res.rowcount != 1:  # type: ignore[attr-defined]
                return False
            s.execute(
                update(VersionRow)
                .where(VersionRow.id == claim.version_id)
                .values(status="failed", error=reason, updated_at=now)
            )
        return True

    def requeue(self, job_ids: Collection[str]) -> int:
        if not job_ids:
            return 0
        return self._requeue(JobRow.id.in_(list(job_ids)))

    def requeue_stale(self, beat_before: datetime, keep: Collection[str]) -> int:
        return self._requeue(
            and_(
                or_(JobRow.heartbeat_at.is_(None), JobRow.heartbeat_at < beat_before),
                JobRow.id.not_in(list(keep)),
            )
        )

    def _requeue(self, which: ColumnElement[bool]) -> int:
        with self.db.write() as s:
            ids = list(s.scalars(select(JobRow.id).where(JobRow.status == "running", which)))
            if not ids:
                return 0
            s.execute(
                update(JobRow).where(JobRow.id.in_(ids)).values(status="queued", published_at=None)
            )
            s.execute(
                update(VersionRow)
                .where(VersionRow.id.in_(select(JobRow.version_id).where(JobRow.id.in_(ids))))
                .values(status="pending")
            )
        return len(ids)

    # -- the broker tier ---------------------------------------------------------------

    def mark_published(self, job_id: str) -> None:
        with self.db.write() as s:
            s.execute(
                update(JobRow)
                .where(JobRow.id == job_id, JobRow.status == "queued")
                .values(published_at=utcnow())
            )

    def unpublished_jobs(
        self, published_before: datetime, created_before: datetime, limit: int
    ) -> list[str]:
        with self.db.read() as s:
            return list(
                s.scalars(
                    select(JobRow.id)
                    .where(
                        JobRow.status == "queued",
                        JobRow.created_at < created_before,
                        or_(
                            JobRow.published_at.is_(None),
                            JobRow.published_at < published_before,
                        ),
                    )
                    .order_by(JobRow.created_at, JobRow.id)
                    .limit(limit)
                )
            )

    def job_counts(self) -> list[tuple[str, str, int]]:
        with self.db.read() as s:
            rows = s.execute(
                select(VersionRow.framework, JobRow.status, func.count())
                .join(VersionRow, JobRow.version_id == VersionRow.id)
                .where(JobRow.status.in_(("queued", "running")))
                .group_by(VersionRow.framework, JobRow.status)
            )
            return [(str(fw), str(st), int(n)) for fw, st, n in rows]


# -- row helpers ---------------------------------------------------------------------


def _attempt(claim: JobClaim) -> ColumnElement[bool]:
    """The job row while it is still ``claim``'s running attempt."""
    return and_(
        JobRow.id == claim.job_id,
        JobRow.status == "running",
        JobRow.attempts == claim.attempts,
    )


#: The columns of an artifact row: the artifact document's fields, stored as its JSON.
_ARTIFACT_COLUMNS = (
    "format",
    "sha256",
    "size",
    "media_type",
    "status",
    "validation",
    "converter",
    "signature",
    "files",
    "error",
)


def _artifact_row(version_id: int, a: Artifact, now: datetime) -> ArtifactRow:
    doc = a.to_json()
    return ArtifactRow(
        version_id=version_id, created_at=now, **{c: doc[c] for c in _ARTIFACT_COLUMNS}
    )


def _model_row(s: Session, name: str) -> ModelRow:
    row = s.scalar(select(ModelRow).where(ModelRow.name == name))
    if row is None:
        raise ModelNotFound(
            f"no model named {name!r}; list models with GET /api/v1/models or push one first"
        )
    return row


def _resolve(s: Session, model: ModelRow, ref: ModelRef) -> VersionRow:
    if ref.version is not None:
        row = s.scalar(
            select(VersionRow).where(
                VersionRow.model_id == model.id, VersionRow.version == ref.version
            )
        )
        if row is None:
            raise VersionNotFound(
                f"model {model.name!r} has no version {ref.version} "
                f"(latest is {model.last_version or 'none'})"
            )
        return row
    if ref.alias is None:
        row = s.scalar(
            select(VersionRow)
            .where(VersionRow.model_id == model.id)
            .order_by(VersionRow.version.desc())
            .limit(1)
        )
        if row is None:
            raise VersionNotFound(f"model {model.name!r} has no versions yet")
        return row
    row = s.scalar(
        select(VersionRow)
        .join(AliasRow, AliasRow.version_id == VersionRow.id)
        .where(AliasRow.model_id == model.id, AliasRow.alias == ref.alias)
    )
    if row is None:
        raise AliasNotFound(_aliases.no_alias(model.name, ref.alias))
    return row


def _models(s: Session, rows: list[ModelRow]) -> list[Model]:
    ids = [r.id for r in rows]
    if not ids:
        return []
    stats = {
        mid: (latest, count)
        for mid, latest, count in s.execute(
            select(VersionRow.model_id, func.max(VersionRow.version), func.count(VersionRow.id))
            .where(VersionRow.model_id.in_(ids))
            .group_by(VersionRow.model_id)
        )
    }
    aliases: dict[int, dict[str, int]] = {i: {} for i in ids}
    for mid, alias, number in s.execute(
        select(AliasRow.model_id, AliasRow.alias, VersionRow.version)
        .join(VersionRow, AliasRow.version_id == VersionRow.id)
        .where(AliasRow.model_id.in_(ids))
        .order_by(AliasRow.alias)
    ):
        aliases[mid][alias] = number
    weights = _aliases.model_alias_weights(s, ids)
    out = []
    for r in rows:
        latest, count = stats.get(r.id, (None, 0))
        out.append(
            Model(
                name=r.name,
                description=r.description or "",
                tags=dict(r.tags or {}),
                created_at=aware(r.created_at),  # type: ignore[arg-type]
                updated_at=aware(r.updated_at),  # type: ignore[arg-type]
                latest_version=latest,
                version_count=int(count),
                aliases=aliases[r.id],
                alias_weights=weights[r.id],
            )
        )
    return out


def _artifact(row: ArtifactRow) -> Artifact:
    """The artifact document of a row, decoded once here (the report, signature, files)."""
    return Artifact.from_json({c: getattr(row, c) for c in _ARTIFACT_COLUMNS})


def _versions(s: Session, model: ModelRow, rows: list[VersionRow]) -> list[ModelVersion]:
    ids = [r.id for r in rows]
    if not ids:
        return []
    order = {f: i for i, f in enumerate(ARTIFACT_FORMATS)}
    arts: dict[int, list[Artifact]] = {i: [] for i in ids}
    for a in s.scalars(select(ArtifactRow).where(ArtifactRow.version_id.in_(ids))):
        arts[a.version_id].append(_artifact(a))
    aliases: dict[int, list[str]] = {i: [] for i in ids}
    for vid, alias in s.execute(
        select(AliasRow.version_id, AliasRow.alias)
        .where(AliasRow.version_id.in_(ids))
        .order_by(AliasRow.alias)
    ):
        aliases[vid].append(alias)
    jobs: dict[int, str] = {}
    for vid, jid in s.execute(
        select(JobRow.version_id, JobRow.id)
        .where(JobRow.version_id.in_(ids))
        .order_by(JobRow.created_at)
    ):
        jobs[vid] = jid
    return [
        ModelVersion.from_json(
            {
                "name": model.name,
                "version": r.version,
                "status": r.status,
                "framework": r.framework,
                "source": SourceFile(r.source_filename, r.source_sha256, r.source_size),
                "description": r.description or "",
                "tags": dict(r.tags or {}),
                "signature": r.signature,
                "lineage": r.lineage,
                "created_by": r.created_by,
                "created_at": aware(r.created_at),
                "updated_at": aware(r.updated_at),
                "aliases": aliases[r.id],
                "error": r.error,
                "job_id": jobs.get(r.id),
                "targets": list(r.targets or []),
                "options": dict(r.options or {}),
                "artifacts": sorted(arts[r.id], key=lambda a: order.get(a.format, 99)),
            }
        )
        for r in rows
    ]


def _job(row: JobRow, name: str, number: int) -> Job:
    return Job(
        id=row.id,
        kind=row.kind,
        name=name,
        version=number,
        status=row.status,
        attempts=row.attempts,
        error=row.error,
        created_at=aware(row.created_at),  # type: ignore[arg-type]
        started_at=aware(row.started_at),
        finished_at=aware(row.finished_at),
        timings=row.timings,
    )

"""The registry service: the one object the API talks to."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, BinaryIO

from sqlalchemy import String, cast, func, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from converters import PROGRESS_FILE
from registry import _aliases
from registry._blobs import BlobStore, StagedBlob
from registry._compose import check_composable, pin_preprocess
from registry._cursor import MAX_LIMIT, decode_cursor, encode_cursor
from registry._db import Database
from registry._domain import (
    ARTIFACT_FORMATS,
    MAX_VERSION,
    Artifact,
    ArtifactStream,
    Job,
    Model,
    ModelVersion,
    Page,
    SourceFile,
    aware,
)
from registry._errors import JobNotFound
from registry._orm import AliasRow, ArtifactRow, JobRow, ModelRow, VersionRow, utcnow
from registry._search import LIKE_ESCAPE, contains_pattern
from registry._settings import Settings
from registry._stores import open_store
from registry._uploads import (
    check_options,
    check_tags,
    check_tolerance,
    clean_filename,
    sample_kind,
)
from runtime import AliasEvent, AliasTarget, check_alias, check_name
from runtime.errors import (
    AliasNotFound,
    ArtifactNotFound,
    InvalidModelRef,
    InvalidUpload,
    InvalidWeights,
    ModelNotFound,
    UnsupportedFormat,
    VersionNotFound,
)

__all__ = ["CreatedVersion", "Registry"]

_MEDIA_TYPES = {"onnx": "application/onnx"}


@dataclass(frozen=True, slots=True)
class CreatedVersion:
    """What an accepted upload returns."""

    name: str
    version: int
    status: str
    job_id: str


class Registry:
    """Versions, aliases, artifacts and jobs over one database and one blob store.

    >>> reg = Registry(Settings(data_dir=Path("/tmp/mp")))        # doctest: +SKIP
    >>> reg.create_version("lin", open("lin.onnx", "rb"), "lin.onnx")  # doctest: +SKIP
    CreatedVersion(name='lin', version=1, status='pending', job_id='...')
    """

    def __init__(
        self,
        settings: Settings,
        db: Database | None = None,
        store: BlobStore | None = None,
    ) -> None:
        self.settings = settings
        self.db = db or Database.from_settings(settings)
        self.store: BlobStore = store or open_store(settings)

    def close(self) -> None:
        self.db.dispose()

    # -- uploads -----------------------------------------------------------------

    def create_version(
        self,
        name: str,
        stream: BinaryIO,
        filename: str | None,
        *,
        framework: str | None = None,
        targets: Sequence[str] | None = None,
        sample: BinaryIO | None = None,
        sample_filename: str | None = None,
        description: str = "",
        tags: dict[str, str] | None = None,
        created_by: str | None = None,
        tolerance: dict[str, float] | None = None,
        options: dict[str, Any] | None = None,
    ) -> CreatedVersion:
        """Store an upload and queue its conversion job.

        The upload is streamed to the blob store and checked cheaply first; the version,
        its source artifact and its job are then written in one transaction, so a failure
        at any step leaves no version behind.

        Raises ``InvalidModelRef``, ``InvalidUpload``, ``UnsupportedMediaType``,
        ``PayloadTooLarge``.
        """
        check_name(name)
        fname = clean_filename(filename)
        tags = check_tags(tags)
        opts = pin_preprocess(self.db, check_options(options))
        tol = check_tolerance(tolerance)
        limit = self.settings.max_upload_bytes
        with self.store.staging(stream, limit=limit) as staged:
            if staged.size == 0:
                raise InvalidUpload(f"the uploaded file {fname!r} is empty")
            fw = self._detect(staged, fname, framework)
            check_composable(fw, opts)
            chosen = self._targets(fw, targets)
            if sample is not None:
                with self.store.staging(sample, limit=limit) as sample_staged:
                    kind = sample_kind(sample_filename, sample_staged)
                    sample_blob = sample_staged.commit()
            else:
                kind, sample_blob = None, None
            source = staged.commit()
        fields = {
            "framework": fw,
            "source_filename": fname,
            "source_sha256": source.sha256,
            "source_size": source.size,
            "sample_sha256": sample_blob.sha256 if sample_blob else None,
            "sample_kind": kind,
            "targets": chosen,
            "tolerance": tol,
            "description": description or "",
            "tags": tags,
            "options": opts or None,
            "created_by": created_by,
        }
        return self._insert_version(name, fields)

    def _detect(self, staged: StagedBlob, filename: str, declared: str | None) -> str:
        from converters import detect_framework

        return detect_framework(
            staged.path, filename, declared or None, allow_pickle=self.settings.allow_pickle
        )

    def _targets(self, framework: str, requested: Sequence[str] | None) -> list[str]:
        from converters import applicable_targets

        available = applicable_targets(framework)
        wanted = list(dict.fromkeys(t.strip().lower() for t in requested or () if t.strip()))
        if not wanted:  # none asked for, or only blanks: every applicable target
            return available
        unknown = [t for t in wanted if t not in available]
        if unknown:
            raise UnsupportedFormat(
                f"target(s) {', '.join(unknown)} do not apply to a {framework} model; "
                f"choose from: {', '.join(available) or 'none'}"
            )
        return wanted

    def _insert_version(self, name: str, fields: dict[str, Any]) -> CreatedVersion:
        now = utcnow()
        job_id = uuid.uuid4().hex
        with self.db.write() as s:
            insert = sqlite_insert if self.db.is_sqlite else pg_insert
            s.execute(
                insert(ModelRow)
                .values(
                    name=name,
                    description=fields["description"],
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
            if fields["tags"]:
                model.tags = {**(model.tags or {}), **fields["tags"]}
            if not model.description and fields["description"]:
                model.description = fields["description"]
            row = VersionRow(
                model_id=model_id,
                version=number,
                status="pending",
                created_at=now,
                updated_at=now,
                **fields,
            )
            s.add(row)
            s.flush()
            s.add(
                ArtifactRow(
                    version_id=row.id,
                    format="source",
                    sha256=fields["source_sha256"],
                    size=fields["source_size"],
                    media_type=_MEDIA_TYPES.get(fields["framework"], "application/octet-stream"),
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

    # -- models ------------------------------------------------------------------

    def list_models(
        self, q: str | None = None, limit: int = 50, cursor: str | None = None
    ) -> Page[Model]:
        """Models sorted by name; ``q`` matches name, description or tags (case-insensitive)."""
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

    # -- versions ----------------------------------------------------------------

    def list_versions(
        self, name: str, limit: int = 50, cursor: str | None = None
    ) -> Page[ModelVersion]:
        """Versions of ``name``, newest first."""
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

    def get_version(self, name: str, ref: str | int) -> ModelVersion:
        """One version by number, ``latest`` or alias.

        Raises ``ModelNotFound``, ``VersionNotFound``, ``AliasNotFound``, ``InvalidModelRef``.
        """
        check_name(name)
        with self.db.read() as s:
            model = _model_row(s, name)
            row = _resolve(s, model, ref)
            return _versions(s, model, [row])[0]

    # -- aliases -----------------------------------------------------------------

    def set_alias(
        self,
        name: str,
        alias: str,
        version: int | None = None,
        *,
        weights: Mapping[Any, Any] | None = None,
        changed_by: str | None = None,
        note: str | None = None,
    ) -> AliasTarget:
        """Point ``alias`` at ``version``, or split it by ``weights`` (``{3: 90, 4: 10}``).

        Creates or moves the alias and records the change in its history, in one
        transaction. Raises ``InvalidWeights``, ``VersionNotFound``, ``ModelNotFound``.
        """
        check_name(name)
        check_alias(alias)
        if (version is None) == (weights is None):
            raise InvalidWeights('give either a version or weights (e.g. {"3": 90, "4": 10})')
        split = weights if weights is not None else {int(version or 0): 100}
        with self.db.write() as s:
            return _aliases.set_alias(s, _model_row(s, name), alias, split, changed_by, note)

    def get_alias(self, name: str, alias: str) -> AliasTarget:
        """What ``name@alias`` points at (one version or a weighted split)."""
        check_name(name)
        check_alias(alias)
        with self.db.read() as s:
            return _aliases.get_alias(s, _model_row(s, name), alias)

    def alias_history(self, name: str, alias: str, limit: int = 50) -> list[AliasEvent]:
        """The audited changes of ``name@alias``, newest first."""
        check_name(name)
        check_alias(alias)
        with self.db.read() as s:
            return _aliases.alias_history(s, _model_row(s, name), alias, limit)

    def delete_alias(
        self, name: str, alias: str, *, changed_by: str | None = None, note: str | None = None
    ) -> None:
        check_name(name)
        check_alias(alias)
        with self.db.write() as s:
            _aliases.delete_alias(s, _model_row(s, name), alias, changed_by, note)

    # -- jobs and artifacts --------------------------------------------------------

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
        # the progress file is read after the read transaction has ended
        progress = self._progress(job.id, job.attempts) if job.status == "running" else None
        return _job(job, name, number, progress)

    def _progress(self, job_id: str, attempt: int) -> dict[str, Any] | None:
        """What the worker last reported in its progress file (advisory)."""
        path = self.settings.jobs_dir / job_id / str(attempt) / PROGRESS_FILE
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def find_artifact(self, name: str, ref: str | int, fmt: str) -> ArtifactStream:
        """The downloadable artifact of ``format`` (metadata only; nothing is opened)."""
        version = self.get_version(name, ref)
        if fmt not in ARTIFACT_FORMATS:
            raise ArtifactNotFound(
                f"unknown artifact format {fmt!r}; use one of {', '.join(ARTIFACT_FORMATS)}"
            )
        art = next((a for a in version.artifacts if a.format == fmt), None)
        if art is None or art.sha256 is None:
            have = ", ".join(a.format for a in version.artifacts if a.sha256) or "none"
            why = f" ({art.status}: {art.error})" if art is not None else ""
            raise ArtifactNotFound(
                f"{name}:{version.version} has no downloadable {fmt!r} artifact{why}; "
                f"available: {have}"
            )
        filename = (
            version.source.filename
            if fmt == "source"
            else _artifact_filename(name, version.version, art)
        )
        return ArtifactStream(name, version.version, art, filename)

    def open_artifact(self, name: str, ref: str | int, fmt: str) -> tuple[ArtifactStream, BinaryIO]:
        """The artifact of ``format`` and an open binary stream of its bytes."""
        info = self.find_artifact(name, ref, fmt)
        assert info.artifact.sha256 is not None
        return info, self.store.open(info.artifact.sha256)

    def presign_artifact(self, info: ArtifactStream) -> str | None:
        """A short-lived URL serving the artifact straight from the store (None: local)."""
        art = info.artifact
        assert art.sha256 is not None
        media = art.media_type or "application/octet-stream"
        return self.store.presign(art.sha256, filename=info.filename, media_type=media)

    def check_ready(self) -> None:
        """Raise when the database or the blob store is unusable."""
        with self.db.read() as s:
            s.execute(text("SELECT 1"))
        self.store.check_writable()


# -- row helpers ---------------------------------------------------------------------


def _model_row(s: Session, name: str) -> ModelRow:
    row = s.scalar(select(ModelRow).where(ModelRow.name == name))
    if row is None:
        raise ModelNotFound(
            f"no model named {name!r}; list models with GET /api/v1/models or push one first"
        )
    return row


def _version_number(text: str) -> int | None:
    """The number ``text`` spells, or None when it spells none that can be stored.

    ``isdecimal`` (not ``isdigit``, which also admits superscripts that ``int`` refuses),
    and the length is checked before ``int``, which refuses strings past 4300 digits.
    """
    digits = text.lstrip("0") or "0"
    if len(digits) > len(str(MAX_VERSION)) or int(digits) > MAX_VERSION:
        return None  # cannot exist, and would overflow the column type
    return int(digits)


def _resolve(s: Session, model: ModelRow, ref: str | int) -> VersionRow:
    text_ref = str(ref)
    if text_ref.isdecimal():
        number = _version_number(text_ref)
        row = None
        if number is not None:
            row = s.scalar(
                select(VersionRow).where(
                    VersionRow.model_id == model.id, VersionRow.version == number
                )
            )
        if row is None:
            shown = number if number is not None else text_ref[:40]
            raise VersionNotFound(
                f"model {model.name!r} has no version {shown} "
                f"(latest is {model.last_version or 'none'})"
            )
        return row
    if text_ref == "latest":
        row = s.scalar(
            select(VersionRow)
            .where(VersionRow.model_id == model.id)
            .order_by(VersionRow.version.desc())
            .limit(1)
        )
        if row is None:
            raise VersionNotFound(f"model {model.name!r} has no versions yet")
        return row
    try:
        check_alias(text_ref)
    except InvalidModelRef:
        raise InvalidModelRef(
            f"invalid version reference {text_ref!r}: use a version number, 'latest' or an alias"
        ) from None
    row = s.scalar(
        select(VersionRow)
        .join(AliasRow, AliasRow.version_id == VersionRow.id)
        .where(AliasRow.model_id == model.id, AliasRow.alias == text_ref)
    )
    if row is None:
        raise AliasNotFound(_aliases.no_alias(model.name, text_ref))
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
    return Artifact(
        format=row.format,
        sha256=row.sha256,
        size=row.size,
        media_type=row.media_type,
        status=row.status,
        validation=row.validation,
        converter=row.converter,
        signature=row.signature,
        files=row.files,
        error=row.error,
    )


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
        ModelVersion(
            name=model.name,
            version=r.version,
            status=r.status,
            framework=r.framework,
            source=SourceFile(r.source_filename, r.source_sha256, r.source_size),
            description=r.description or "",
            tags=dict(r.tags or {}),
            signature=r.signature,
            lineage=r.lineage,
            created_by=r.created_by,
            created_at=aware(r.created_at),  # type: ignore[arg-type]
            updated_at=aware(r.updated_at),  # type: ignore[arg-type]
            aliases=aliases[r.id],
            error=r.error,
            job_id=jobs.get(r.id),
            targets=list(r.targets or []),
            artifacts=sorted(arts[r.id], key=lambda a: order.get(a.format, 99)),
            options=dict(r.options or {}),
        )
        for r in rows
    ]


def _job(row: JobRow, name: str, number: int, progress: dict[str, Any] | None = None) -> Job:
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
        progress=progress,
    )


_EXT = {"onnx": ".onnx", "pmml": ".pmml", "savedmodel": ".tar"}


def _artifact_filename(name: str, number: int, art: Artifact) -> str:
    ext = ".tar" if art.files else _EXT.get(art.format, ".bin")
    return f"{name}-{number}{ext}"

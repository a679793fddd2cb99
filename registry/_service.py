"""The registry service: the one object the API talks to."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from typing import Any, BinaryIO

from converters import PROGRESS_FILE, applicable_targets, detect_framework, registered_frameworks
from registry._blobs import BlobStore, StagedBlob
from registry._browse import BrowsePage, ModelQuery
from registry._compose import check_composable, pin_preprocess
from registry._db import Database
from registry._domain import (
    ARTIFACT_FORMATS,
    Artifact,
    ArtifactStream,
    Job,
    Model,
    ModelVersion,
    Page,
)
from registry._metadata import CreatedVersion, MetadataStore, NewVersion
from registry._settings import Settings
from registry._sql import SqlMetadataStore
from registry._stores import open_store
from registry._uploads import (
    check_options,
    check_tags,
    check_tolerance,
    clean_filename,
    sample_kind,
)
from runtime import ARTIFACT_EXTENSIONS, AliasEvent, AliasTarget, ModelRef, check_alias, check_name
from runtime.errors import ArtifactNotFound, InvalidUpload, InvalidWeights, UnsupportedFormat

__all__ = ["CreatedVersion", "Registry"]

_MEDIA_TYPES = {"onnx": "application/onnx"}


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
        metadata: MetadataStore | None = None,
    ) -> None:
        self.settings = settings
        self.metadata: MetadataStore = metadata or SqlMetadataStore(
            db or Database.from_settings(settings)
        )
        self.store: BlobStore = store or open_store(settings)

    @property
    def db(self) -> Database:
        """The SQL database under the SQLAlchemy metadata store (migrations, tests)."""
        if not isinstance(self.metadata, SqlMetadataStore):
            raise AttributeError("this registry's metadata store is not SQL")
        return self.metadata.db

    def close(self) -> None:
        self.metadata.close()

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
        options: Any = None,
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
        opts = pin_preprocess(self.metadata, check_options(options))
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
        new = NewVersion(
            framework=fw,
            source_filename=fname,
            source_sha256=source.sha256,
            source_size=source.size,
            source_media_type=_MEDIA_TYPES.get(fw, "application/octet-stream"),
            targets=chosen,
            description=description or "",
            tags=tags,
            options=opts,
            tolerance=tol,
            sample_sha256=sample_blob.sha256 if sample_blob else None,
            sample_kind=kind,
            created_by=created_by,
        )
        return self.metadata.create_version(name, new)

    def _detect(self, staged: StagedBlob, filename: str, declared: str | None) -> str:
        return detect_framework(
            staged.path, filename, declared or None, allow_pickle=self.settings.allow_pickle
        )

    def _targets(self, framework: str, requested: Sequence[str] | None) -> list[str]:
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

    def frameworks(self) -> list[str]:
        """The registered framework plug-ins, by name (for upload forms)."""
        return registered_frameworks()

    # -- models, versions, aliases --------------------------------------------------

    def list_models(
        self, q: str | None = None, limit: int = 50, cursor: str | None = None
    ) -> Page[Model]:
        """Models sorted by name; ``q`` matches name, description or tags (case-insensitive)."""
        return self.metadata.list_models(q, limit, cursor)

    def get_model(self, name: str) -> Model:
        return self.metadata.get_model(name)

    def browse_models(self, query: ModelQuery) -> BrowsePage:
        """The web UI's models list: search, filters, three sorts, keyset pages."""
        return self.metadata.browse(query)

    def list_versions(
        self, name: str, limit: int = 50, cursor: str | None = None
    ) -> Page[ModelVersion]:
        """Versions of ``name``, newest first."""
        return self.metadata.list_versions(name, limit, cursor)

    def get_version(self, ref: ModelRef) -> ModelVersion:
        """One version by number, latest or alias (``ModelRef.at(name, path_ref)``).

        Raises ``ModelNotFound``, ``VersionNotFound``, ``AliasNotFound``.
        """
        return self.metadata.get_version(ref)

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
        return self.metadata.set_alias(name, alias, split, changed_by, note)

    def get_alias(self, name: str, alias: str) -> AliasTarget:
        """What ``name@alias`` points at (one version or a weighted split)."""
        check_name(name)
        check_alias(alias)
        return self.metadata.get_alias(name, alias)

    def alias_history(self, name: str, alias: str, limit: int = 50) -> list[AliasEvent]:
        """The audited changes of ``name@alias``, newest first."""
        check_name(name)
        check_alias(alias)
        return self.metadata.alias_history(name, alias, limit)

    def delete_alias(
        self, name: str, alias: str, *, changed_by: str | None = None, note: str | None = None
    ) -> None:
        check_name(name)
        check_alias(alias)
        self.metadata.delete_alias(name, alias, changed_by, note)

    # -- jobs and artifacts --------------------------------------------------------

    def get_job(self, job_id: str) -> Job:
        job = self.metadata.get_job(job_id)
        if job.status != "running":
            return job
        # the progress file is read after the read transaction has ended
        return dataclasses.replace(job, progress=self._progress(job.id, job.attempts))

    def _progress(self, job_id: str, attempt: int) -> dict[str, Any] | None:
        """What the worker last reported in its progress file (advisory)."""
        path = self.settings.jobs_dir / job_id / str(attempt) / PROGRESS_FILE
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def find_artifact(self, ref: ModelRef, fmt: str) -> ArtifactStream:
        """The downloadable artifact of ``format`` (metadata only; nothing is opened)."""
        version = self.get_version(ref)
        name = ref.name
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

    def open_artifact(self, ref: ModelRef, fmt: str) -> tuple[ArtifactStream, BinaryIO]:
        """The artifact of ``format`` and an open binary stream of its bytes."""
        info = self.find_artifact(ref, fmt)
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
        self.metadata.ping()
        self.store.check_writable()


def _artifact_filename(name: str, number: int, art: Artifact) -> str:
    ext = ".tar" if art.files else ARTIFACT_EXTENSIONS.get(art.format, ".bin")
    return f"{name}-{number}{ext}"

"""modelport registry: versions, aliases, content-addressed artifacts and conversion jobs.

>>> from registry import Registry, Settings, upgrade_database
>>> settings = Settings(data_dir=Path("./modelport-data"))     # doctest: +SKIP
>>> upgrade_database(settings)                                  # doctest: +SKIP
>>> Registry(settings).get_version(ModelRef.at("fraud-clf", "latest"))  # doctest: +SKIP
"""

from registry._blobs import (
    Blob,
    BlobStore,
    LocalBlobStore,
    StagedBlob,
    StagingFile,
    check_blob_id,
    write_staging_file,
)
from registry._browse import BrowsePage, ModelQuery, ModelSummary
from registry._db import Database
from registry._dispatch import Dispatcher, InlineDispatcher, make_dispatcher, run_worker
from registry._domain import (
    Artifact,
    ArtifactStream,
    Job,
    Model,
    ModelVersion,
    Page,
    SourceFile,
)
from registry._errors import JobNotFound
from registry._jobs import JobRunner
from registry._logs import configure_logging, current_request_id, new_request_id, request_context
from registry._metadata import (
    CreatedVersion,
    JobClaim,
    JobInput,
    JobOutcome,
    MetadataStore,
    NewVersion,
)
from registry._metrics import count_blob_bytes, observe_http, render_metrics, serve_metrics
from registry._migrate import current_revision, head_revision, upgrade_database
from registry._packing import pack_directory
from registry._queues import queue_for, queue_names
from registry._s3 import S3BlobStore
from registry._service import Registry
from registry._settings import Settings, get_settings, token_entries
from registry._sql import SqlMetadataStore
from registry._stores import open_store
from registry._uploads import parse_options, parse_tags

__all__ = [
    "Artifact",
    "ArtifactStream",
    "Blob",
    "BlobStore",
    "BrowsePage",
    "CreatedVersion",
    "Database",
    "Dispatcher",
    "InlineDispatcher",
    "Job",
    "JobClaim",
    "JobInput",
    "JobNotFound",
    "JobOutcome",
    "JobRunner",
    "LocalBlobStore",
    "MetadataStore",
    "Model",
    "ModelQuery",
    "ModelSummary",
    "ModelVersion",
    "NewVersion",
    "Page",
    "Registry",
    "S3BlobStore",
    "Settings",
    "SourceFile",
    "SqlMetadataStore",
    "StagedBlob",
    "StagingFile",
    "check_blob_id",
    "configure_logging",
    "count_blob_bytes",
    "current_request_id",
    "current_revision",
    "get_settings",
    "head_revision",
    "make_dispatcher",
    "new_request_id",
    "observe_http",
    "open_store",
    "pack_directory",
    "parse_options",
    "parse_tags",
    "queue_for",
    "queue_names",
    "render_metrics",
    "request_context",
    "run_worker",
    "serve_metrics",
    "token_entries",
    "upgrade_database",
    "write_staging_file",
]

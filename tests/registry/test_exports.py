"""The public names of the registry package are pinned."""

from __future__ import annotations

import registry


def test_exported_names():
    assert sorted(registry.__all__) == sorted(
        [
            "Artifact",
            "ArtifactStream",
            "Blob",
            "BlobStore",
            "BrowsePage",
            "CreatedVersion",
            "Database",
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
            "current_revision",
            "get_settings",
            "head_revision",
            "open_store",
            "pack_directory",
            "parse_options",
            "parse_tags",
            "token_entries",
            "upgrade_database",
            "Dispatcher",
            "InlineDispatcher",
            "make_dispatcher",
            "run_worker",
            "configure_logging",
            "current_request_id",
            "new_request_id",
            "request_context",
            "count_blob_bytes",
            "observe_http",
            "render_metrics",
            "serve_metrics",
            "queue_for",
            "queue_names",
            "write_staging_file",
        ]
    )
    for name in registry.__all__:
        module = getattr(registry, name).__module__
        # the documents the registry hands out are the runtime's wire documents
        assert module.startswith("registry") or module == "runtime._wire", name

"""The blob store a registry process uses, chosen by ``MODELPORT_STORE``."""

from __future__ import annotations

from registry._blobs import BlobStore, LocalBlobStore
from registry._settings import Settings

__all__ = ["open_store"]


def open_store(settings: Settings) -> BlobStore:
    """``LocalBlobStore`` under the data folder, or ``S3BlobStore`` for ``s3://…``.

    Opening a store reclaims what killed processes left: staging files nobody holds,
    and (S3) incomplete multipart uploads older than ``staging_max_age_s``.
    """
    if not settings.store:
        return LocalBlobStore(settings.blob_dir, staging_max_age_s=settings.staging_max_age_s)
    from registry._s3 import S3BlobStore

    return S3BlobStore(
        settings.store,
        settings.staging_dir,
        presign_expires_s=settings.presign_expires_s,
        addressing_style=settings.s3_addressing_style,
        staging_max_age_s=settings.staging_max_age_s,
    )

"""Settings of the registry process, read from ``MODELPORT_*`` environment variables."""

from __future__ import annotations

import sys
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings", "get_settings", "token_entries"]


class Settings(BaseSettings):
    """Configuration of one registry process.

    Every field can be set through ``MODELPORT_<FIELD>``, e.g. ``MODELPORT_DATA_DIR``.

    >>> Settings(data_dir=Path("/tmp/mp")).resolved_database_url
    'sqlite:////tmp/mp/registry.db'
    """

    model_config = SettingsConfigDict(
        env_prefix="MODELPORT_", env_nested_delimiter="__", extra="ignore"
    )

    data_dir: Path = Field(default=Path("./modelport-data"), description="Blobs, jobs, SQLite db.")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default sqlite:///<data_dir>/registry.db"
    )
    max_upload_bytes: int = Field(default=2 * 1024**3, gt=0)
    allow_pickle: bool = False
    job_timeout_s: float = Field(default=600.0, ge=1.0)
    job_memory_mb: int = Field(default=4096, ge=0, description="0 disables the limit.")
    worker_concurrency: int = Field(default=1, ge=0, description="0 runs no job runner.")
    worker_python: str = Field(default=sys.executable)
    job_poll_s: float = Field(default=0.5, gt=0)
    fork_server: bool = Field(
        default=True,
        description=(
            "Fork each conversion process from a warm parent per framework group (imports "
            "done once) instead of starting a fresh interpreter per job."
        ),
    )
    fork_preload: str = Field(
        default="sklearn",
        description="Framework groups (sklearn, torch, tensorflow) whose warm parent starts "
        "with the job runner; the others start on their first job.",
    )
    job_lease_s: float = Field(
        default=60.0, ge=1.0, description="A running job without a heartbeat this long is requeued."
    )
    migrate_on_start: bool = True
    workers: Literal["inline", "celery"] = Field(
        default="inline",
        description=(
            "Who runs conversions: 'inline' (threads of the server, the embedded default) or "
            "'celery' (`modelport worker` processes fed through the broker; the server then "
            "converts nothing)."
        ),
    )
    broker_url: str = Field(
        default="amqp://guest:guest@127.0.0.1:5672//",
        description="The Celery broker (RabbitMQ) when workers='celery'.",
    )
    job_republish_s: float = Field(
        default=900.0,
        ge=1.0,
        description=(
            "A queued job whose message was published this long ago without being claimed "
            "is published again (a lost message); duplicates are dropped by the claim."
        ),
    )
    log_format: Literal["text", "json"] = Field(
        default="text", description="'json': one JSON object per log line, with request ids."
    )
    metadata_cache_entries: int = Field(
        default=4096, ge=0, description="Ready version documents kept encoded in memory; 0: none."
    )
    metadata_cache_ttl_s: float = Field(
        default=2.0,
        gt=0,
        description=(
            "How long a cached document or alias target is served before it is read again; "
            "bounds how stale another server process's write can look (this process's own "
            "writes are seen at once)."
        ),
    )
    store: str = Field(
        default="",
        description=(
            "Where blobs live: empty for <data_dir>/blobs, or s3://bucket/prefix for an "
            "S3-compatible store (endpoint, region and credentials from AWS_ENDPOINT_URL, "
            "AWS_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)."
        ),
    )
    presign_expires_s: int = Field(
        default=300, ge=1, le=7 * 24 * 3600, description="Life of a presigned download URL."
    )
    s3_addressing_style: Literal["auto", "path", "virtual"] = Field(
        default="auto", description="auto: path style when AWS_ENDPOINT_URL is set."
    )
    staging_max_age_s: float = Field(
        default=24 * 3600.0,
        gt=0,
        description="Staging files and incomplete multipart uploads older than this are removed.",
    )
    write_tokens: str = Field(
        default="",
        description=(
            "Comma-separated tokens that may upload and change aliases (and read); each a "
            "token of 16+ characters or 'sha256:<hex digest of the token>'. Empty: no "
            "token is needed to write, unless read_tokens is set."
        ),
    )
    read_tokens: str = Field(
        default="",
        description="Comma-separated tokens that may read (same forms). Empty: reading is open.",
    )

    @model_validator(mode="after")
    def _absolute_data_dir(self) -> Settings:
        self.data_dir = self.data_dir.expanduser().resolve()
        return self

    @model_validator(mode="after")
    def _check_store(self) -> Settings:
        if self.store and not self.store.startswith("s3://"):
            raise ValueError(
                f"MODELPORT_STORE={self.store!r}: leave it empty for the local data folder "
                "or give s3://bucket/prefix"
            )
        return self

    @model_validator(mode="after")
    def _check_tokens(self) -> Settings:
        for field in ("write_tokens", "read_tokens"):
            for entry in token_entries(getattr(self, field)):
                if entry.startswith("sha256:"):
                    digest = entry.removeprefix("sha256:")
                    if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
                        raise ValueError(
                            f"MODELPORT_{field.upper()}: {entry[:15]}… is not 'sha256:' and "
                            "64 lowercase hex digits; run 'modelport token' for a valid pair"
                        )
                elif len(entry) < 16:
                    raise ValueError(
                        f"MODELPORT_{field.upper()}: a token of {len(entry)} characters is "
                        "too easy to guess; use 16 or more (run 'modelport token' for one)"
                    )
        return self

    @property
    def resolved_database_url(self) -> str:
        """The database URL, defaulting to a SQLite file inside ``data_dir``."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'registry.db'}"

    @property
    def blob_dir(self) -> Path:
        return self.data_dir / "blobs"

    @property
    def staging_dir(self) -> Path:
        """Local staging files of an S3 store (the local store stages in blob_dir/tmp)."""
        return self.data_dir / "staging"

    @property
    def jobs_dir(self) -> Path:
        return self.data_dir / "jobs"


def token_entries(text: str) -> list[str]:
    """The entries of a comma-separated token list (blank entries dropped)."""
    return [part.strip() for part in text.split(",") if part.strip()]


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, built once from the environment."""
    return Settings()

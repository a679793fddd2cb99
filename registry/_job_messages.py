"""The task message of a conversion job: its id, attempt and worker request.

The job row stays the source of truth; a message only says "run attempt N of job J"
and carries what the worker needs besides the database: the worker request (the
document ``converters.worker`` reads) and the content addresses of its input blobs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from converters import WorkerRequest
from registry._orm import JobRow, VersionRow
from registry._service import Registry
from registry._uploads import safe_suffix

__all__ = ["JobMessage", "job_message"]


@dataclass(frozen=True)
class JobMessage:
    """What a conversion job needs besides the database: the request and its inputs.

    ``request`` is a :class:`converters.WorkerRequest` as a JSON-safe dict; its policy is
    replaced by the worker's own settings before the job runs.
    """

    job_id: str
    attempt: int
    framework: str
    request: dict[str, Any]
    source_sha256: str
    sample_sha256: str | None
    request_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "job_id": self.job_id,
            "attempt": self.attempt,
            "framework": self.framework,
            "request": self.request,
            "source_sha256": self.source_sha256,
            "sample_sha256": self.sample_sha256,
            "request_id": self.request_id,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JobMessage:
        return cls(
            job_id=str(data["job_id"]),
            attempt=int(data["attempt"]),
            framework=str(data["framework"]),
            request=dict(data["request"]),
            source_sha256=str(data["source_sha256"]),
            sample_sha256=data.get("sample_sha256"),
            request_id=data.get("request_id"),
        )


def job_message(
    registry: Registry, job_id: str, attempt: int, request_id: str | None = None
) -> JobMessage:
    """The task message of a job's ``attempt``, built from its version row."""
    with registry.db.read() as s:
        row = s.execute(
            select(VersionRow)
            .join(JobRow, JobRow.version_id == VersionRow.id)
            .where(JobRow.id == job_id)
        ).scalar_one()
        tolerance = row.tolerance or {}
        request = WorkerRequest(
            source="input/model" + safe_suffix(row.source_filename),
            filename=row.source_filename,
            framework=row.framework,
            targets=tuple(row.targets or ()),
            sample=f"input/sample.{row.sample_kind}" if row.sample_sha256 else None,
            atol=tolerance.get("atol"),
            rtol=tolerance.get("rtol"),
            options=dict(row.options or {}),
        )
        return JobMessage(
            job_id=job_id,
            attempt=attempt,
            framework=row.framework,
            request=request.to_dict(),
            source_sha256=row.source_sha256,
            sample_sha256=row.sample_sha256,
            request_id=request_id,
        )

"""The task message of a conversion job: its id, attempt and worker request.

The job row stays the source of truth; a message only says "run attempt N of job J"
and carries what the worker needs besides the database: the worker request (the
document ``converters.worker`` reads) and the content addresses of its input blobs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from converters import WorkerRequest
from registry._metadata import JobClaim, JobInput
from registry._uploads import safe_suffix

__all__ = ["JobMessage", "job_message", "worker_request"]


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


def worker_request(inp: JobInput) -> WorkerRequest:
    """The worker request of a job (with the default policy: the runner sets its own)."""
    tolerance = inp.tolerance or {}
    return WorkerRequest(
        source="input/model" + safe_suffix(inp.source_filename),
        filename=inp.source_filename,
        framework=inp.framework,
        targets=tuple(inp.targets),
        sample=f"input/sample.{inp.sample_kind}" if inp.sample_sha256 else None,
        atol=tolerance.get("atol"),
        rtol=tolerance.get("rtol"),
        options=inp.options,
    )


def job_message(claim: JobClaim, inp: JobInput, request_id: str | None = None) -> JobMessage:
    """The task message of attempt ``claim.attempts`` of a job."""
    return JobMessage(
        job_id=claim.job_id,
        attempt=claim.attempts,
        framework=inp.framework,
        request=worker_request(inp).to_dict(),
        source_sha256=inp.source_sha256,
        sample_sha256=inp.sample_sha256,
        request_id=request_id,
    )

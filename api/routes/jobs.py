"""Conversion jobs."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import RegistryDep
from api.schemas import JobOut

__all__ = ["router"]

router = APIRouter(prefix="/api/v1", tags=["jobs"])


@router.get("/jobs/{job_id}", response_model=JobOut, summary="A conversion job's state and timings")
def get_job(job_id: str, registry: RegistryDep) -> JobOut:
    return JobOut.of(registry.get_job(job_id))

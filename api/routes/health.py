"""Liveness and readiness probes."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from api.deps import RegistryDep
from api.errors import problem

__all__ = ["router"]

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="The process is up")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="Database reachable and blob store writable")
def readyz(request: Request, registry: RegistryDep) -> JSONResponse:
    try:
        registry.check_ready()
    except Exception as exc:  # any failure means "not ready", with the reason
        return problem(request, 503, "NotReady", f"not ready: {exc}")
    return JSONResponse({"status": "ready"})

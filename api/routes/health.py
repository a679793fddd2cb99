"""Liveness and readiness probes."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from api.deps import RegistryDep
from api.errors import problem

__all__ = ["router"]

router = APIRouter(tags=["health"])


_OK = b'{"status":"ok"}'


@router.get(
    "/healthz",
    summary="The process is up",
    response_class=Response,
    responses={200: {"content": {"application/json": {"example": {"status": "ok"}}}}},
)
async def healthz() -> Response:
    # async and pre-encoded: no thread-pool hop, no response model to validate
    return Response(_OK, media_type="application/json")


@router.get("/readyz", summary="Database reachable and blob store writable")
def readyz(request: Request, registry: RegistryDep) -> JSONResponse:
    try:
        registry.check_ready()
    except Exception as exc:  # any failure means "not ready", with the reason
        return problem(request, 503, "NotReady", f"not ready: {exc}")
    return JSONResponse({"status": "ready"})

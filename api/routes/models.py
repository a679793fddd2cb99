"""Models, versions, artifacts and aliases."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Annotated, BinaryIO

from fastapi import APIRouter, File, Form, Query, Request, Response, UploadFile
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from api._doc_cache import CachedDoc, VersionDocs, cache_policy, etag_matches
from api.auth import WriteAccess, access_of
from api.deps import DispatcherDep, RegistryDep
from api.errors import problem
from api.routes._ranges import RangeNotSatisfiable, parse_range
from api.schemas import (
    AliasBody,
    AliasHistory,
    AliasOut,
    ModelOut,
    ModelPage,
    UploadAccepted,
    VersionOut,
    VersionPage,
)
from registry import ArtifactStream, ModelVersion, Registry, parse_options, parse_tags
from runtime import ModelRef
from runtime.errors import InvalidUpload

__all__ = ["router"]

router = APIRouter(prefix="/api/v1", tags=["models"])

_CHUNK = 4 * 1024 * 1024  # one thread-pool hop per chunk: few, large reads
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")

Limit = Annotated[int, Query(ge=1, le=200, description="Page size (1-200).")]
Cursor = Annotated[
    str | None, Query(max_length=512, description="next_cursor of the previous page.")
]


def _float_field(name: str, raw: str | None) -> float | None:
    if raw is None or raw.strip() == "":
        return None
    try:
        return float(raw)
    except ValueError:
        raise InvalidUpload(f"{name} must be a number such as 1e-4, got {raw[:40]!r}") from None


@router.post(
    "/models/{name}/versions",
    status_code=202,
    response_model=UploadAccepted,
    summary="Upload a model file as a new version",
)
def create_version(
    name: str,
    request: Request,
    response: Response,
    registry: RegistryDep,
    dispatcher: DispatcherDep,
    _access: WriteAccess,
    file: Annotated[UploadFile, File(description="The model file (e.g. model.onnx).")],
    framework: Annotated[str | None, Form(max_length=32)] = None,
    targets: Annotated[str | None, Form(max_length=200, description="Comma list.")] = None,
    sample: Annotated[UploadFile | None, File(description=".npy/.npz inputs")] = None,
    description: Annotated[str, Form(max_length=10_000)] = "",
    tags: Annotated[str | None, Form(max_length=100_000, description="JSON object")] = None,
    created_by: Annotated[str | None, Form(max_length=255)] = None,
    atol: Annotated[str | None, Form(max_length=40)] = None,
    rtol: Annotated[str | None, Form(max_length=40)] = None,
    options: Annotated[
        str | None,
        Form(
            max_length=100_000,
            description="JSON object of converter options (<= 16 KiB); keys: input_names, "
            "input_shapes, input_dtypes, output_names, dynamic_axes.",
        ),
    ] = None,
) -> UploadAccepted:
    converter_options = parse_options(options)
    tolerance = {
        k: v
        for k, v in (("atol", _float_field("atol", atol)), ("rtol", _float_field("rtol", rtol)))
        if v is not None
    }
    created = registry.create_version(
        name,
        file.file,
        file.filename,
        framework=framework or None,
        targets=targets.split(",") if targets else None,
        sample=sample.file if sample is not None and sample.filename else None,
        sample_filename=sample.filename if sample is not None else None,
        description=description,
        tags=parse_tags(tags),
        created_by=created_by or None,
        tolerance=tolerance or None,
        options=converter_options,
    )
    version_docs(request).forget(created.name)  # 'latest' moved
    dispatcher.submit(created.job_id, getattr(request.state, "request_id", None))
    response.headers["Location"] = str(
        request.url_for("get_version", name=created.name, ref=str(created.version)).path
    )
    return UploadAccepted.of(created)


@router.get("/models", response_model=ModelPage, summary="List or search models")
def list_models(
    registry: RegistryDep,
    q: Annotated[
        str | None, Query(max_length=200, description="Matches name, description, tags.")
    ] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> ModelPage:
    page = registry.list_models(q=q, limit=limit, cursor=cursor)
    return ModelPage.of(page)


@router.get("/models/{name}", response_model=ModelOut, summary="One model")
def get_model(name: str, registry: RegistryDep) -> ModelOut:
    return ModelOut.of(registry.get_model(name))


@router.get("/models/{name}/versions", response_model=VersionPage, summary="Versions, newest first")
def list_versions(
    name: str, registry: RegistryDep, limit: Limit = 50, cursor: Cursor = None
) -> VersionPage:
    page = registry.list_versions(name, limit=limit, cursor=cursor)
    return VersionPage.of(page)


@router.get(
    "/models/{name}/versions/{ref}",
    response_model=VersionOut,
    summary="One version by number, 'latest' or alias",
)
async def get_version(name: str, ref: str, request: Request, registry: RegistryDep) -> Response:
    docs = version_docs(request)
    doc = docs.get(name, ref)
    if doc is None:
        doc = await run_in_threadpool(docs.load, _read_version(registry), name, ref)
    return _document(request, doc, ref)


def encode_version(version: ModelVersion) -> bytes:
    """The wire bytes of a version document (what ``response_model=VersionOut`` would send)."""
    return VersionOut.of(version).model_dump_json().encode()


def version_docs(request: Request) -> VersionDocs:
    docs: VersionDocs = request.app.state.version_docs
    return docs


def _document(request: Request, doc: CachedDoc, ref: str) -> Response:
    policy = cache_policy(doc, ref, access_of(request).read_needs_token)
    headers = {"ETag": doc.etag, "Cache-Control": policy}
    if etag_matches(request.headers.get("if-none-match"), doc.etag):
        return Response(status_code=304, headers=headers)
    return Response(doc.body, media_type="application/json", headers=headers)


def _read_version(registry: Registry) -> Callable[[str, str], ModelVersion]:
    def read(name: str, ref: str) -> ModelVersion:
        return registry.get_version(ModelRef.at(name, ref))

    return read


def _iter_range(fh: BinaryIO, start: int, length: int) -> Iterator[bytes]:
    try:
        fh.seek(start)
        left = length
        while left > 0:
            chunk = fh.read(min(_CHUNK, left))
            if not chunk:
                break
            left -= len(chunk)
            yield chunk
    finally:
        fh.close()


# Served with the artifact's own media type (application/onnx, application/x-tar for
# a SavedModel, ...), so the document does not pin one.
_ARTIFACT_BODY = {
    "description": "The artifact's bytes, in its own media type",
    "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}},
}


_REDIRECT_DOC = (
    "With an object store (MODELPORT_STORE=s3://…) the answer is a 307 redirect to a "
    "short-lived presigned URL of the store, so the bytes never pass through the API; "
    "redirect=false streams them through the API instead. Either way the bytes hash to "
    "X-Modelport-Sha256 (clients verify it)."
)


@router.get(
    "/models/{name}/versions/{ref}/artifacts/{format}",
    summary="Download an artifact (Range supported)",
    description=_REDIRECT_DOC,
    response_class=Response,
    responses={
        200: _ARTIFACT_BODY,
        206: _ARTIFACT_BODY,
        307: {"description": "Redirect to a presigned URL of the object store"},
        416: {},
    },
)
def download_artifact(
    name: str,
    ref: str,
    format: str,
    request: Request,
    registry: RegistryDep,
    redirect: Annotated[
        bool, Query(description="false: stream through the API instead of redirecting.")
    ] = True,
) -> Response:
    info = registry.find_artifact(ModelRef.at(name, ref), format)
    art = info.artifact
    etag = f'"{art.sha256}"'
    safe = _UNSAFE.sub("_", info.filename) or "artifact"
    headers = {
        "ETag": etag,
        "Accept-Ranges": "bytes",
        "X-Modelport-Sha256": str(art.sha256),
        "Content-Disposition": f'attachment; filename="{safe}"',
        "Cache-Control": "public, max-age=31536000, immutable" if ref.isdigit() else "no-cache",
    }
    if request.headers.get("if-none-match") in (etag, art.sha256):
        return Response(status_code=304, headers=headers)
    location = registry.presign_artifact(info) if redirect else None
    if location is not None:
        # the URL expires: neither the redirect nor its target may be cached for long
        headers.update({"Location": location, "Cache-Control": "no-store"})
        del headers["Accept-Ranges"]
        return Response(status_code=307, headers=headers)
    return _stream(request, registry, info, headers)


def _stream(
    request: Request, registry: RegistryDep, info: ArtifactStream, headers: dict[str, str]
) -> Response:
    art = info.artifact
    size = int(art.size or 0)
    if_range = request.headers.get("if-range")
    range_header = request.headers.get("range") if if_range in (None, headers["ETag"]) else None
    try:
        span = parse_range(range_header, size)
    except RangeNotSatisfiable:
        return problem(
            request,
            416,
            "RangeNotSatisfiable",
            f"range {range_header!r} lies outside the artifact of {size} bytes; "
            f"request bytes between 0 and {max(size - 1, 0)}",
            headers={"Content-Range": f"bytes */{size}"},
        )
    assert art.sha256 is not None
    fh = registry.store.open(art.sha256)
    media = art.media_type or "application/octet-stream"
    if span is None:
        headers["Content-Length"] = str(size)
        return StreamingResponse(_iter_range(fh, 0, size), media_type=media, headers=headers)
    start, end = span
    headers["Content-Length"] = str(end - start + 1)
    headers["Content-Range"] = f"bytes {start}-{end}/{size}"
    return StreamingResponse(
        _iter_range(fh, start, end - start + 1), status_code=206, media_type=media, headers=headers
    )


@router.put(
    "/models/{name}/aliases/{alias}",
    response_model=AliasOut,
    summary="Set or move an alias: one version, or a weighted split",
)
def set_alias(
    name: str,
    alias: str,
    body: AliasBody,
    request: Request,
    registry: RegistryDep,
    _access: WriteAccess,
) -> AliasOut:
    """``{"version": 3}`` points the alias at one version; ``{"weights": {"3": 90,
    "4": 10}}`` splits it (percent, summing to 100). Either way the change is recorded
    in the alias's history with ``changed_by`` and ``note``."""
    try:
        target = registry.set_alias(
            name,
            alias,
            body.version,
            weights=body.weights,
            changed_by=body.changed_by,
            note=body.note,
        )
    finally:
        version_docs(request).forget(name)
    return AliasOut.of_target(target)


@router.get(
    "/models/{name}/aliases/{alias}",
    response_model=AliasOut,
    summary="What an alias points at (its version weights)",
)
def get_alias(name: str, alias: str, registry: RegistryDep) -> AliasOut:
    return AliasOut.of_target(registry.get_alias(name, alias))


@router.get(
    "/models/{name}/aliases/{alias}/history",
    response_model=AliasHistory,
    summary="The audited changes of an alias, newest first",
)
def alias_history(
    name: str,
    alias: str,
    registry: RegistryDep,
    limit: Annotated[int, Query(ge=1, le=500, description="At most this many (1-500).")] = 50,
) -> AliasHistory:
    events = registry.alias_history(name, alias, limit)
    return AliasHistory.model_validate({"items": [e.to_dict() for e in events]})


@router.delete("/models/{name}/aliases/{alias}", status_code=204, summary="Remove an alias")
def delete_alias(
    name: str,
    alias: str,
    request: Request,
    registry: RegistryDep,
    _access: WriteAccess,
    changed_by: Annotated[str | None, Query(max_length=200)] = None,
    note: Annotated[str | None, Query(max_length=2000)] = None,
) -> Response:
    try:
        registry.delete_alias(name, alias, changed_by=changed_by, note=note)
    finally:
        version_docs(request).forget(name)
    return Response(status_code=204)

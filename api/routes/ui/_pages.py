"""The UI's routes: thin handlers over the registry service, one template each.

Handlers raise what the registry raises; :class:`~api.routes.ui._errors.PageRoute`
turns a modelport error into the HTML error page (a missing model or version is an
HTML 404 page, not problem+json).
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response

from api.auth import COOKIE, Level, access_of
from api.deps import RegistryDep
from api.routes.ui._access import COOKIE_DAYS, safe_next, viewer
from api.routes.ui._errors import PageRoute, error_page
from api.routes.ui._filters import ASSETS, STATIC, render, url_model, url_version
from api.routes.ui._views import (
    JobView,
    VersionView,
    format_rows,
    job_view,
    lineage_facts,
    models_page,
    signature_rows,
    size_delta,
    version_view,
)
from registry import JobNotFound, ModelQuery, Registry
from runtime import FORMAT_PREFERENCE, ModelRef
from runtime.errors import Unauthorized

__all__ = ["router"]

router = APIRouter(include_in_schema=False, dependencies=[Depends(viewer)], route_class=PageRoute)

_LIVE = ("pending", "converting")


@router.get("/static/{filename}", name="ui_static")
def static_file(filename: str) -> Response:
    """The UI's own assets (a fixed list: nothing from the URL becomes a path)."""
    if filename not in ASSETS:
        return Response("not found", status_code=404, media_type="text/plain")
    return FileResponse(STATIC / filename, headers={"Cache-Control": "public, max-age=86400"})


def _page_size(text: str) -> int:
    """The ``limit`` parameter's number; 0 (which the registry refuses) when it is none."""
    if not text.isdecimal():  # not isdigit: it admits superscripts that int() refuses
        return 0
    try:
        return int(text)
    except ValueError:  # past int()'s 4300-digit limit
        return 0


@router.get("/", response_class=HTMLResponse, name="ui_models")
def models_list(
    request: Request,
    registry: RegistryDep,
    q: str = "",
    tag: str = "",
    alias: str = "",
    framework: str = "",
    format: str = "",
    sort: str = "updated",
    cursor: str | None = None,
    limit: str = "50",
) -> Response:
    query = ModelQuery(
        q=q.strip(),
        tag=tag.strip(),
        alias=alias.strip(),
        framework=framework,
        format=format,
        sort=sort,
        limit=_page_size(limit),
        cursor=cursor or None,
    )
    found = registry.browse_models(query)
    return render(
        "models.html",
        nav="models",
        page=models_page(found, request.query_params, cursor),
        query=query,
        filtered=query.filtered,
        frameworks=registry.frameworks(),
        formats=FORMAT_PREFERENCE,
        sorts=list(ModelQuery.SORTS.items()),
    )


@router.get("/upload", response_class=HTMLResponse, name="ui_upload")
def upload_page(name: str = "") -> Response:
    return render("upload.html", nav="upload", targets=FORMAT_PREFERENCE, prefill_name=name)


@router.get("/signin", response_class=HTMLResponse, name="ui_signin")
def signin_page(request: Request, next: str = "/") -> Response:  # noqa: A002 - the field
    if not access_of(request).enabled:
        return RedirectResponse(safe_next(next), status_code=303)
    return render("signin.html", next=safe_next(next), error="")


@router.post("/signin", response_class=HTMLResponse, name="ui_signin_post")
def signin(
    request: Request,
    token: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/",  # noqa: A002 - the form field's name
) -> Response:
    access = access_of(request)
    target = safe_next(next)
    if not access.enabled:
        return RedirectResponse(target, status_code=303)
    try:
        level = access.level(token.strip() or None)
    except Unauthorized:
        level = Level.ANONYMOUS
    if level == Level.ANONYMOUS:
        return render(
            "signin.html",
            401,
            next=target,
            error="That token is not one this registry accepts. Check it and try again.",
        )
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        COOKIE,
        token.strip(),
        max_age=COOKIE_DAYS * 86400,
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


@router.get("/signout", name="ui_signout")
def signout() -> Response:
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response


@router.get("/models/{name}", response_class=HTMLResponse, name="ui_model")
def model_page(registry: RegistryDep, name: str, cursor: str | None = None) -> Response:
    model = registry.get_model(name)
    versions = registry.list_versions(name, limit=50, cursor=cursor or None)
    base = url_model(name)
    return render(
        "model.html",
        nav="models",
        model=model,
        versions=[version_view(v) for v in versions.items],
        older_url=f"{base}?{urlencode({'cursor': versions.next_cursor})}#versions"
        if versions.next_cursor
        else None,
        newer_url=f"{base}#versions" if cursor else None,
    )


def _version(registry: Registry, name: str, ref: str) -> VersionView:
    return version_view(registry.get_version(ModelRef.at(name, ref)))


def _job(registry: Registry, job_id: str | None) -> JobView | None:
    if not job_id:
        return None
    try:
        return job_view(registry.get_job(job_id))
    except JobNotFound:
        return None


def _version_context(registry: Registry, name: str, ref: str) -> dict[str, Any]:
    model = registry.get_model(name)
    v = _version(registry, name, ref)
    job = _job(registry, v.job_id)
    return {
        "model": model,
        "v": v,
        "job": job,
        "lineage_facts": lineage_facts(v, job),
        "api_version_url": f"/api/v1/models/{quote(name, safe='')}/versions/{v.version}",
        "fragment_url": f"{url_version(name, v.version)}/fragment",
        "live": v.status in _LIVE,
    }


@router.get("/models/{name}/versions/{ref}", response_class=HTMLResponse, name="ui_version")
def version_page(registry: RegistryDep, name: str, ref: str) -> Response:
    context = _version_context(registry, name, ref)
    if ref != str(context["v"].version):  # `latest` or an alias: go to the stable URL
        return RedirectResponse(url_version(name, context["v"].version), status_code=307)
    return render("version.html", nav="models", **context)


@router.get(
    "/models/{name}/versions/{ref}/fragment",
    response_class=HTMLResponse,
    name="ui_version_fragment",
)
def version_fragment(registry: RegistryDep, name: str, ref: str) -> Response:
    """The version page's body alone, swapped in by the live-progress script."""
    response = render("_version_body.html", **_version_context(registry, name, ref))
    response.headers["Cache-Control"] = "no-store"
    return response


@router.get("/models/{name}/compare", response_class=HTMLResponse, name="ui_compare")
def compare_page(registry: RegistryDep, name: str, a: str = "", b: str = "") -> Response:
    if not (a.isdigit() and b.isdigit()):
        return error_page(
            400,
            "Pick two versions",
            f"compare needs two version numbers, e.g. {url_model(name)}/compare?a=1&b=2",
        )
    model = registry.get_model(name)
    va, vb = _version(registry, name, a), _version(registry, name, b)
    sig_rows = signature_rows(va, vb)
    return render(
        "compare.html",
        nav="models",
        model=model,
        a=va,
        b=vb,
        sig_rows=sig_rows,
        sig_same=bool(sig_rows) and all(r.change == "same" for r in sig_rows),
        format_rows=format_rows(va, vb),
        size_delta=size_delta(va.source.size, vb.source.size),
    )

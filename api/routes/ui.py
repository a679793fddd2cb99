"""The web UI: server-rendered pages over the same registry service as REST v1.

Stable URLs: ``/`` (models), ``/models/{name}``, ``/models/{name}/versions/{n}``,
``/models/{name}/compare?a=N&b=M`` and ``/upload``; assets under ``/static/``. Pages
never render a user string as a template (Jinja2 autoescape is on for every file),
and a missing model or version is an HTML 404 page, not problem+json.

The page scripts talk to REST v1 for uploads, aliases and live job progress.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Iterable
from contextvars import ContextVar
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Annotated, Any, TypeVar
from urllib.parse import quote, urlencode

import jinja2
from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response

from api.auth import COOKIE, Level, access_of
from api.deps import RegistryDep
from registry import Artifact, ModelVersion
from registry._browse import SORTS, ModelQuery
from runtime import FORMAT_PREFERENCE, ModelRef, Signature
from runtime.errors import InvalidModelRef, ModelportError, Unauthorized

__all__ = ["SignInNeeded", "router", "sign_in_redirect"]

# Who is looking at the page being rendered: "open" (the registry needs no token),
# "anonymous" (it does; no token given) or "signed-in". Set by _viewer for each request.
_VIEWER: ContextVar[str] = ContextVar("modelport_viewer", default="open")
_OPEN_PATHS = ("/static/", "/signin", "/signout")
_COOKIE_DAYS = 14


class SignInNeeded(Exception):
    """A page that needs a token was asked for without one: go to the sign-in page."""

    def __init__(self, target: str, stale_cookie: bool) -> None:
        super().__init__(target)
        self.target = target
        self.stale_cookie = stale_cookie  # a token the registry no longer accepts


async def _viewer(request: Request) -> None:
    """Every UI page: sign-in first when reading needs a token (assets stay open)."""
    access = access_of(request)
    if not access.enabled:
        _VIEWER.set("open")
        return
    if request.url.path.startswith(_OPEN_PATHS):
        _VIEWER.set("anonymous")
        return
    cookie = request.cookies.get(COOKIE)
    try:
        level = access.check(cookie, write=False)
    except Unauthorized as exc:
        raise SignInNeeded(_here(request), stale_cookie=bool(cookie)) from exc
    _VIEWER.set("signed-in" if level > Level.ANONYMOUS else "anonymous")


def _here(request: Request) -> str:
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


def sign_in_redirect(request: Request, exc: Exception) -> Response:
    """The response for :class:`SignInNeeded`: 303 to /signin, remembering the page."""
    assert isinstance(exc, SignInNeeded)
    response = RedirectResponse(
        "/signin?" + urlencode({"next": exc.target}), status_code=303, headers=_PAGE_HEADERS
    )
    if exc.stale_cookie:
        response.delete_cookie(COOKIE, path="/")
    return response


router = APIRouter(include_in_schema=False, dependencies=[Depends(_viewer)])

_HERE = Path(__file__).resolve().parent.parent
_TEMPLATES = _HERE / "templates"
_STATIC = _HERE / "static"
FORMATS = FORMAT_PREFERENCE
_LIVE = ("pending", "converting")
_HTML = "text/html; charset=utf-8"
T = TypeVar("T")


# -- formatting filters -------------------------------------------------------------


def _sci(value: Any) -> str:
    if value is None or value == "":
        return "–"
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    if number == 0:
        return "0"
    if math.isnan(number) or math.isinf(number):
        return str(number)
    if 1e-3 <= abs(number) < 1e4:
        return f"{number:.4g}"
    return f"{number:.2e}"


def _filesize(value: Any) -> str:
    if value is None:
        return "–"
    size = float(value)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{int(size)} B" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TiB"  # pragma: no cover


def _shape(shape: Any) -> str:
    if shape is None:
        return "?"
    return "[" + ", ".join("?" if d is None else str(d) for d in shape) + "]"


def _iso(value: datetime | None) -> str:
    return value.isoformat() if value else ""


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else "–"


# The bar spans err/tol from 1e-6 to 10 on a log scale; the tolerance sits at 6/7.
_BAR_LOW, _BAR_HIGH = -6.0, 1.0


def _errbar(value: Any, tol: Any) -> dict[str, Any] | None:
    try:
        err, limit = float(value), float(tol)
    except (TypeError, ValueError):
        return None
    if limit <= 0 or math.isnan(err):
        return None
    ratio = err / limit
    position = math.log10(ratio) if ratio > 0 else _BAR_LOW
    span = _BAR_HIGH - _BAR_LOW
    fill = min(max((position - _BAR_LOW) / span, 0.0), 1.0) * 100
    return {"fill": round(fill, 1), "tol": round(-_BAR_LOW / span * 100, 1), "over": ratio > 1}


def _url_model(name: str) -> str:
    return "/models/" + quote(name, safe="")


def _url_version(name: str, version: int) -> str:
    return f"{_url_model(name)}/versions/{int(version)}"


def _static_files() -> dict[str, str]:
    """Every asset and a short content hash, so URLs change when the file does."""
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()[:12]
        for p in sorted(_STATIC.iterdir())
        if p.is_file()
    }


_ASSETS = _static_files()


def _static_url(filename: str) -> str:
    return f"/static/{filename}?v={_ASSETS.get(filename, '0')}"


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(_TEMPLATES)),
        autoescape=True,  # every template, whatever its extension
        undefined=jinja2.ChainableUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        sci=_sci, filesize=_filesize, shape=_shape, iso=_iso, when=_when, errbar=_errbar
    )
    env.globals.update(
        static_url=_static_url, url_model=_url_model, url_version=_url_version, viewer=_VIEWER.get
    )
    return env


_ENV = _environment()


# Defence in depth next to autoescaping: only our own scripts and styles run; the
# inline style attributes are the computed widths of the error bars.
_PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; "
        "style-src-attr 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; "
        "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def render(template: str, http_status: int = 200, **context: Any) -> HTMLResponse:
    """Render ``template`` with ``context`` (autoescaped) into an HTML response."""
    html = _ENV.get_template(template).render(**context)
    return HTMLResponse(html, status_code=http_status, media_type=_HTML, headers=_PAGE_HEADERS)


def error_page(status_code: int, title: str, detail: str) -> HTMLResponse:
    return render("error.html", status_code, title=title, detail=detail, status_code=status_code)


def _guard(call: Callable[[], T]) -> T | HTMLResponse:
    """Run a registry call; a not-found or bad reference becomes an HTML error page."""
    try:
        return call()
    except (LookupError, InvalidModelRef) as exc:  # a bad name names no model either
        return error_page(404, "Not found", str(exc))
    except (ValueError, ModelportError) as exc:
        return error_page(400, "Bad request", str(exc))


# -- view models ----------------------------------------------------------------------

_ABS_KEYS = ("max_abs_diff", "max_abs", "max_abs_error", "abs_diff", "max_absolute_difference")
_REL_KEYS = ("max_rel_diff", "max_rel", "max_rel_error", "rel_diff", "max_relative_difference")
_OK_KEYS = ("passed", "ok", "within_tolerance", "match")
_OUTPUT_KEYS = ("outputs", "per_output", "comparisons", "results")


def _first(data: dict[str, Any], keys: Iterable[str]) -> Any:
    return next((data[k] for k in keys if k in data and data[k] is not None), None)


def _label(key: str) -> str:
    """``worker_s`` -> ``worker (s)``; ``library_versions`` -> ``library versions``."""
    if key.endswith("_s"):
        return key[:-2].replace("_", " ") + " (s)"
    return key.replace("_", " ")


def _plain(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{_label(str(k))} {_plain(v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        sep = "; " if any(isinstance(v, dict) for v in value) else ", "
        return sep.join(_plain(v) for v in value)
    if isinstance(value, float):
        return _sci(value)
    return "–" if value is None else str(value)


def _report(validation: dict[str, Any] | None) -> SimpleNamespace:
    """Per-output rows and remaining facts of a validation report, whatever its nesting."""
    if not validation:
        return SimpleNamespace(rows=[], facts=[], max_abs=None)
    tolerance = validation.get("tolerance") or {}
    raw = _first(validation, _OUTPUT_KEYS) or []
    if isinstance(raw, dict):
        raw = [{"name": k, **(v if isinstance(v, dict) else {"value": v})} for k, v in raw.items()]
    rows = []
    for item in raw:
        if not isinstance(item, dict):
            continue
        ok = _first(item, _OK_KEYS)
        own_tol = item.get("tolerance")
        own: dict[str, Any] = own_tol if isinstance(own_tol, dict) else {}
        rows.append(
            SimpleNamespace(
                name=str(item.get("name", item.get("output", "?"))),
                max_abs=_first(item, _ABS_KEYS),
                max_rel=_first(item, _REL_KEYS),
                atol=own.get("atol", item.get("atol", tolerance.get("atol"))),
                rtol=own.get("rtol", item.get("rtol", tolerance.get("rtol"))),
                exact=item.get("compare") == "exact" or bool(item.get("exact")),
                ok=None if ok is None else bool(ok),
                reasons=[str(r) for r in item.get("reasons") or []],
                dtype=item.get("dtype"),
            )
        )
    skip = {*_OUTPUT_KEYS, "tolerance", "status", "passed", "weak", *_TIER_KEYS}
    if not validation.get("sets"):
        skip.discard("sample")  # an older report: the sample is its only word on inputs
    facts = [
        (_label(k), _plain(v))
        for k, v in validation.items()
        if k not in skip and v not in (None, [], {})
    ]
    if tolerance:
        facts.insert(0, ("tolerance", _plain(tolerance)))
    diffs = [float(r.max_abs) for r in rows if isinstance(r.max_abs, int | float)]
    return SimpleNamespace(
        rows=rows, facts=facts, max_abs=max(diffs) if diffs else None, **_tiers(validation)
    )


_TIER_KEYS = ("sets", "findings", "recipe", "decided_by", "sample")


def _tiers(validation: dict[str, Any]) -> dict[str, Any]:
    """The named input sets, the reported findings and the reproduction recipe."""
    sets = [
        SimpleNamespace(
            name=str(s.get("name", "?")),
            role=str(s.get("role", "")),
            rows=s.get("rows"),
            status=str(s.get("status", "")),
            origin=str(s.get("origin") or ""),
            error=s.get("error"),
        )
        for s in validation.get("sets") or []
        if isinstance(s, dict)
    ]
    findings = [
        SimpleNamespace(
            set=str(f.get("set", "")),
            output=f.get("output"),
            status=str(f.get("status", "")),
            max_abs=f.get("max_abs_diff"),
            explanation=str(f.get("explanation") or ""),
        )
        for f in validation.get("findings") or []
        if isinstance(f, dict)
    ]
    recipe = validation.get("recipe")
    return {
        "sets": sets,
        "findings": findings,
        "decided_by": [str(n) for n in validation.get("decided_by") or []],
        "recipe": recipe if isinstance(recipe, dict) and recipe.get("script") else None,
    }


def _artifact_view(name: str, number: int, art: Artifact) -> SimpleNamespace:
    report = _report(art.validation)
    converter = art.converter or {}
    return SimpleNamespace(
        format=art.format,
        status=art.status,
        sha256=art.sha256,
        size=art.size,
        media_type=art.media_type,
        signature=art.signature,
        error=art.error,
        files=art.files or [],
        converter=converter,
        converter_facts=[(k, _plain(v)) for k, v in converter.items()],
        report=report,
        max_abs=report.max_abs,
        downloadable=bool(art.sha256),
        download_url=(
            f"/api/v1/models/{quote(name, safe='')}/versions/{number}/artifacts/{art.format}"
        ),
    )


def _version_view(v: ModelVersion) -> SimpleNamespace:
    return SimpleNamespace(
        name=v.name,
        version=v.version,
        status=v.status,
        framework=v.framework,
        source=v.source,
        description=v.description,
        tags=v.tags,
        signature=v.signature,
        lineage=v.lineage or {},
        created_by=v.created_by,
        created_at=v.created_at,
        aliases=v.aliases,
        error=v.error,
        job_id=v.job_id,
        artifacts=[_artifact_view(v.name, v.version, a) for a in v.artifacts],
    )


def _duration(start: datetime | None, end: datetime | None) -> str | None:
    if start is None or end is None:
        return None
    return f"{(end - start).total_seconds():.2f} s"


def _job_view(registry: Any, job_id: str | None) -> SimpleNamespace | None:
    if not job_id:
        return None
    try:
        job = registry.get_job(job_id)
    except LookupError:
        return None
    return SimpleNamespace(
        status=job.status,
        attempts=job.attempts,
        error=job.error,
        created_at=job.created_at,
        waited=_duration(job.created_at, job.started_at),
        ran=_duration(job.started_at, job.finished_at),
        timings=job.timings or {},
        stages=_stages(job.timings or {}),
    )


# the stages of a job in the order they happen (see registry._jobs)
_STAGES = ("queue", "prepare", "fork", "load", "convert", "validate", "store")


def _stages(timings: dict[str, float]) -> list[tuple[str, str]]:
    """``(stage, "1.23 s")`` for each stage the job's timings record, in order."""
    return [(k, f"{timings[k + '_s']:.2f} s") for k in _STAGES if k + "_s" in timings]


def _lineage_facts(v: SimpleNamespace, job: SimpleNamespace | None) -> list[tuple[str, str]]:
    shown = {"framework", "filename"}  # already in the lineage table's first rows
    facts = [(_label(k), _plain(val)) for k, val in v.lineage.items() if k not in shown]
    if job is not None:
        staged = {f"{k}_s" for k in _STAGES}
        facts += [
            (f"job {_label(k)}", _plain(val)) for k, val in job.timings.items() if k not in staged
        ]
    return facts


# -- pages ---------------------------------------------------------------------------


@router.get("/static/{filename}", name="ui_static")
def static_file(filename: str) -> Response:
    """The UI's own assets (a fixed list: nothing from the URL becomes a path)."""
    if filename not in _ASSETS:
        return Response("not found", status_code=404, media_type="text/plain")
    return FileResponse(
        _STATIC / filename,
        headers={"Cache-Control": "public, max-age=86400"},
    )


def _page_size(text: str) -> int:
    """The ``limit`` parameter's number; 0 (which browse_models refuses) when it is none."""
    if not text.isdecimal():  # not isdigit: it admits superscripts that int() refuses
        return 0
    try:
        return int(text)
    except ValueError:  # past int()'s 4300-digit limit
        return 0


@router.get("/", response_class=HTMLResponse, name="ui_models")
def models_page(
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
    found = _guard(lambda: registry.browse_models(query))
    if isinstance(found, HTMLResponse):
        return found
    params = {k: v for k, v in request.query_params.items() if k != "cursor" and v}
    page = SimpleNamespace(
        rows=found.items,
        next_url="/?" + urlencode({**params, "cursor": found.next_cursor})
        if found.next_cursor
        else None,
        first_url=("/?" + urlencode(params)) if cursor else None,
    )
    return render(
        "models.html",
        nav="models",
        page=page,
        query=query,
        filtered=query.filtered,
        frameworks=registry.frameworks(),
        formats=FORMATS,
        sorts=list(SORTS.items()),
    )


@router.get("/upload", response_class=HTMLResponse, name="ui_upload")
def upload_page(name: str = "") -> Response:
    return render("upload.html", nav="upload", targets=FORMATS, prefill_name=name)


def _safe_next(target: str) -> str:
    """Only a path on this site: never another origin (``//host``, ``/\\host``, a URL)."""
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    if any(ord(c) < 0x21 or ord(c) == 0x7F for c in target):  # browsers drop tabs etc.
        return "/"
    return target


@router.get("/signin", response_class=HTMLResponse, name="ui_signin")
def signin_page(request: Request, next: str = "/") -> Response:  # noqa: A002 - the field
    if not access_of(request).enabled:
        return RedirectResponse(_safe_next(next), status_code=303)
    return render("signin.html", next=_safe_next(next), error="")


@router.post("/signin", response_class=HTMLResponse, name="ui_signin_post")
def signin(
    request: Request,
    token: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/",  # noqa: A002 - the form field's name
) -> Response:
    access = access_of(request)
    target = _safe_next(next)
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
        max_age=_COOKIE_DAYS * 86400,
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
    model = _guard(lambda: registry.get_model(name))
    if isinstance(model, HTMLResponse):
        return model
    versions = _guard(lambda: registry.list_versions(name, limit=50, cursor=cursor or None))
    if isinstance(versions, HTMLResponse):
        return versions
    base = _url_model(name)
    return render(
        "model.html",
        nav="models",
        model=model,
        versions=[_version_view(v) for v in versions.items],
        older_url=f"{base}?{urlencode({'cursor': versions.next_cursor})}#versions"
        if versions.next_cursor
        else None,
        newer_url=f"{base}#versions" if cursor else None,
    )


def _version_context(registry: Any, name: str, ref: str) -> dict[str, Any] | HTMLResponse:
    model = _guard(lambda: registry.get_model(name))
    if isinstance(model, HTMLResponse):
        return model
    found = _guard(lambda: registry.get_version(ModelRef.at(name, ref)))
    if isinstance(found, HTMLResponse):
        return found
    v = _version_view(found)
    job = _job_view(registry, v.job_id)
    url = _url_version(name, v.version)
    return {
        "model": model,
        "v": v,
        "job": job,
        "lineage_facts": _lineage_facts(v, job),
        "api_version_url": f"/api/v1/models/{quote(name, safe='')}/versions/{v.version}",
        "fragment_url": f"{url}/fragment",
        "live": v.status in _LIVE,
    }


@router.get("/models/{name}/versions/{ref}", response_class=HTMLResponse, name="ui_version")
def version_page(registry: RegistryDep, name: str, ref: str) -> Response:
    context = _version_context(registry, name, ref)
    if isinstance(context, HTMLResponse):
        return context
    if ref != str(context["v"].version):  # `latest` or an alias: go to the stable URL
        return RedirectResponse(_url_version(name, context["v"].version), status_code=307)
    return render("version.html", nav="models", **context)


@router.get(
    "/models/{name}/versions/{ref}/fragment",
    response_class=HTMLResponse,
    name="ui_version_fragment",
)
def version_fragment(registry: RegistryDep, name: str, ref: str) -> Response:
    """The version page's body alone, swapped in by the live-progress script."""
    context = _version_context(registry, name, ref)
    if isinstance(context, HTMLResponse):
        return context
    response = render("_version_body.html", **context)
    response.headers["Cache-Control"] = "no-store"
    return response


def _spec_texts(signature: dict[str, Any] | None) -> dict[tuple[str, str], str]:
    sig = Signature.from_dict(signature)
    out: dict[tuple[str, str], str] = {}
    for kind, specs in (("input", sig.inputs), ("output", sig.outputs)):
        for t in specs:
            out[(kind, t.name)] = f"{t.dtype} {t.shape_text()}"
    return out


def _signature_rows(a: SimpleNamespace, b: SimpleNamespace) -> list[SimpleNamespace]:
    left, right = _spec_texts(a.signature), _spec_texts(b.signature)
    keys = list(left) + [k for k in right if k not in left]
    rows = []
    for key in keys:
        x, y = left.get(key), right.get(key)
        change = (
            "same" if x == y else "added" if x is None else "removed" if y is None else "changed"
        )
        rows.append(SimpleNamespace(kind=key[0], name=key[1], a=x, b=y, change=change))
    return rows


def _format_rows(a: SimpleNamespace, b: SimpleNamespace) -> list[SimpleNamespace]:
    left = {x.format: x for x in a.artifacts}
    right = {x.format: x for x in b.artifacts}
    order = ["source", *FORMATS]
    formats = sorted(set(left) | set(right), key=lambda f: order.index(f) if f in order else 99)
    return [SimpleNamespace(format=f, a=left.get(f), b=right.get(f)) for f in formats]


def _size_delta(a: int | None, b: int | None) -> str:
    if a is None or b is None or a == b:
        return ""
    sign = "+" if b > a else "−"
    return f"({sign}{_filesize(abs(b - a))})"


@router.get("/models/{name}/compare", response_class=HTMLResponse, name="ui_compare")
def compare_page(registry: RegistryDep, name: str, a: str = "", b: str = "") -> Response:
    if not (a.isdigit() and b.isdigit()):
        return error_page(
            400,
            "Pick two versions",
            f"compare needs two version numbers, e.g. {_url_model(name)}/compare?a=1&b=2",
        )
    model = _guard(lambda: registry.get_model(name))
    if isinstance(model, HTMLResponse):
        return model
    left = _guard(lambda: registry.get_version(ModelRef.at(name, a)))
    if isinstance(left, HTMLResponse):
        return left
    right = _guard(lambda: registry.get_version(ModelRef.at(name, b)))
    if isinstance(right, HTMLResponse):
        return right
    va, vb = _version_view(left), _version_view(right)
    sig_rows = _signature_rows(va, vb)
    return render(
        "compare.html",
        nav="models",
        model=model,
        a=va,
        b=vb,
        sig_rows=sig_rows,
        sig_same=bool(sig_rows) and all(r.change == "same" for r in sig_rows),
        format_rows=_format_rows(va, vb),
        size_delta=_size_delta(va.source.size, vb.source.size),
    )

"""The pages' Jinja environment: formatting filters, URL helpers and ``render``.

Every template is autoescaped whatever its extension, and nothing a user wrote is
ever compiled as a template: user strings only arrive as context values.

>>> render("error.html", 404, title="Not found", detail="no model 'x'", status_code=404)
... # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import math
from contextvars import ContextVar
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jinja2
from fastapi.responses import HTMLResponse

__all__ = [
    "ASSETS",
    "PAGE_HEADERS",
    "STATIC",
    "VIEWER",
    "filesize",
    "plain",
    "label",
    "render",
    "sci",
    "url_model",
    "url_version",
]

_API = Path(__file__).resolve().parent.parent.parent
_TEMPLATES = _API / "templates"
STATIC = _API / "static"
_HTML = "text/html; charset=utf-8"

#: Who is looking at the page being rendered: "open" (the registry needs no token),
#: "anonymous" (it does; no token given) or "signed-in". Set for each request before
#: the page is built (see ``_access``); the templates read it as ``viewer()``.
VIEWER: ContextVar[str] = ContextVar("modelport_viewer", default="open")

# Defence in depth next to autoescaping: only our own scripts and styles run; the
# inline style attributes are the computed widths of the error bars.
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; "
        "style-src-attr 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; "
        "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


# -- numbers, sizes, shapes, times ------------------------------------------------------


def sci(value: Any) -> str:
    """A figure in four significant digits, scientific outside 1e-3..1e4; ``–`` for none."""
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


def filesize(value: Any) -> str:
    """Bytes in B, KiB, MiB or GiB."""
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


def label(key: str) -> str:
    """``worker_s`` -> ``worker (s)``; ``library_versions`` -> ``library versions``."""
    if key.endswith("_s"):
        return key[:-2].replace("_", " ") + " (s)"
    return key.replace("_", " ")


def plain(value: Any) -> str:
    """A JSON value as one line of text for a facts table."""
    if isinstance(value, dict):
        return ", ".join(f"{label(str(k))} {plain(v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        sep = "; " if any(isinstance(v, dict) for v in value) else ", "
        return sep.join(plain(v) for v in value)
    if isinstance(value, float):
        return sci(value)
    return "–" if value is None else str(value)


# -- URLs ------------------------------------------------------------------------------


def url_model(name: str) -> str:
    return "/models/" + quote(name, safe="")


def url_version(name: str, version: int) -> str:
    return f"{url_model(name)}/versions/{int(version)}"


def _static_files() -> dict[str, str]:
    """Every asset and a short content hash, so URLs change when the file does."""
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()[:12]
        for p in sorted(STATIC.iterdir())
        if p.is_file()
    }


#: asset file name -> content hash (a fixed list: nothing from a URL becomes a path)
ASSETS = _static_files()


def _static_url(filename: str) -> str:
    return f"/static/{filename}?v={ASSETS.get(filename, '0')}"


# -- the environment ----------------------------------------------------------------------


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(_TEMPLATES)),
        autoescape=True,  # every template, whatever its extension
        undefined=jinja2.ChainableUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        sci=sci, filesize=filesize, shape=_shape, iso=_iso, when=_when, errbar=_errbar
    )
    env.globals.update(
        static_url=_static_url, url_model=url_model, url_version=url_version, viewer=VIEWER.get
    )
    return env


_ENV = _environment()


def render(template: str, http_status: int = 200, **context: Any) -> HTMLResponse:
    """Render ``template`` with ``context`` (autoescaped) into an HTML response."""
    html = _ENV.get_template(template).render(**context)
    return HTMLResponse(html, status_code=http_status, media_type=_HTML, headers=PAGE_HEADERS)

"""A registry error on a page is the HTML error page with the error's status; the same
error on a REST path stays problem+json; anything else is the ordinary 500."""

from __future__ import annotations

import html

import pytest
from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient

from api.errors import install_error_handlers
from api.routes.ui._errors import PageRoute, page_status
from registry import JobNotFound
from registry._browse import InvalidQuery
from registry._cursor import InvalidCursor
from runtime.errors import (
    AliasNotFound,
    Conflict,
    DocumentError,
    IntegrityError,
    InvalidModelRef,
    ModelNotFound,
    RegistryUnavailable,
    Unauthorized,
    VersionNotFound,
)

pytestmark = pytest.mark.ui

MISSING = "no-such-model-zz"


def assert_error_page(response, status: int) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("text/html")
    assert f"<h1>{status} · " in response.text
    assert "Back to the models" in response.text
    assert "content-security-policy" in response.headers


@pytest.mark.parametrize(
    ("url", "status", "says"),
    [
        ("/models/{missing}", 404, "{missing}"),
        ("/models/{missing}/versions/1", 404, "{missing}"),
        ("/models/{missing}/versions/1/fragment", 404, "{missing}"),
        ("/models/{missing}/compare?a=1&b=2", 404, "{missing}"),
        ("/models/{model}/versions/9", 404, "version 9"),
        ("/models/{model}/versions/9/fragment", 404, "version 9"),
        ("/models/{model}/versions/nope", 404, "nope"),
        ("/models/{model}/compare?a=1&b=9", 404, "version 9"),
        ("/models/{model}/versions/0", 404, "versions are numbered"),
        ("/models/{model}/versions/-1", 404, "invalid version reference"),
        ("/models/bad%20name!", 404, "bad name!"),
        ("/models/{model}?cursor=bogus", 400, "invalid cursor"),
        ("/?sort=bogus", 400, "bogus"),
        ("/?cursor=bogus", 400, "invalid cursor"),
        ("/?limit=0", 400, "invalid limit"),
    ],
)
def test_registry_errors_on_pages_are_html_error_pages(http, shared_model, url, status, says):
    response = http.get(url.format(missing=MISSING, model=shared_model))
    assert_error_page(response, status)
    assert says.format(missing=MISSING) in html.unescape(response.text)


@pytest.mark.parametrize(
    ("url", "status", "title"),
    [
        (f"/api/v1/models/{MISSING}", 404, "ModelNotFound"),
        (f"/api/v1/models/{MISSING}/versions/1", 404, "ModelNotFound"),
        ("/api/v1/models/{model}/versions/9", 404, "VersionNotFound"),
        ("/api/v1/models/{model}/versions/-1", 422, "InvalidModelRef"),
        ("/api/v1/models?cursor=bogus", 422, "InvalidCursor"),
    ],
)
def test_the_same_errors_on_rest_paths_stay_problem_json(http, shared_model, url, status, title):
    response = http.get(url.format(model=shared_model))
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["title"] == title


def test_a_page_says_what_the_rest_problem_says(http):
    page = http.get(f"/models/{MISSING}/versions/1")
    problem = http.get(f"/api/v1/models/{MISSING}/versions/1").json()
    assert problem["detail"] in html.unescape(page.text)


class Subclassed(ModelNotFound):
    """A subclass nobody mapped: found along the MRO."""


@pytest.mark.parametrize(
    ("exc", "status"),
    [
        (ModelNotFound("m"), 404),
        (VersionNotFound("v"), 404),
        (AliasNotFound("a"), 404),
        (JobNotFound("j"), 404),
        (Subclassed("s"), 404),
        (InvalidModelRef("r"), 404),  # a page URL naming no valid model names none
        (InvalidQuery("q"), 400),
        (InvalidCursor("c"), 400),
        (Conflict("c"), 409),
        (Unauthorized("u"), 401),
        (RegistryUnavailable("down"), 503),
        (IntegrityError("bytes"), 500),
        (DocumentError("a stored document does not decode"), 500),
    ],
)
def test_page_status_along_the_class_hierarchy(exc, status):
    assert page_status(exc) == status


def _app() -> FastAPI:
    """Pages and a REST route that raise, behind the application's error handlers."""
    app = FastAPI()
    install_error_handlers(app)
    pages = APIRouter(route_class=PageRoute)
    rest = APIRouter()

    @pages.get("/page/missing")
    def missing_page() -> None:
        raise ModelNotFound("no model 'x'")

    @pages.get("/page/broken")
    def broken_page() -> None:
        raise RuntimeError("a bug")

    @pages.get("/page/integrity")
    def integrity_page() -> None:
        raise IntegrityError("stored bytes do not match sha256 abc")

    @rest.get("/api/missing")
    def missing_rest() -> None:
        raise ModelNotFound("no model 'x'")

    app.include_router(pages)
    app.include_router(rest)
    return app


def test_page_route_renders_modelport_errors_only():
    with TestClient(_app(), raise_server_exceptions=False) as client:
        assert_error_page(client.get("/page/missing"), 404)
        rest = client.get("/api/missing")
        assert rest.status_code == 404
        assert rest.headers["content-type"] == "application/problem+json"
        broken = client.get("/page/broken")  # a bug: the application's 500, not a page
        assert broken.status_code == 500
        assert broken.headers["content-type"] == "application/problem+json"
        assert "a bug" not in broken.text


def test_a_server_side_error_page_hides_the_internals(caplog):
    with TestClient(_app(), raise_server_exceptions=False) as client:
        response = client.get("/page/integrity")
    assert_error_page(response, 500)
    assert "sha256 abc" not in response.text
    assert "internal error; see server logs" in response.text
    assert any("sha256 abc" in r.getMessage() for r in caplog.records)

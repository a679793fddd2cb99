"""Errors on UI pages: one HTML error page, its status looked up along the error's MRO.

The REST routes answer a :class:`~runtime.errors.ModelportError` with problem+json
(``api.errors``); a page answers it with ``error.html`` instead. Page handlers just
raise: every route of the UI router is a :class:`PageRoute`, which turns the error
into the page. Anything else (a bug) goes on to the application's 500 handler.

>>> page_status(ModelNotFound("no model 'x'"))                  # doctest: +SKIP
404
>>> page_status(InvalidModelRef("bad name"))  # a page URL naming no valid model names none
404
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from http import HTTPStatus
from typing import Any

from fastapi import Request, Response
from fastapi.responses import HTMLResponse
from fastapi.routing import APIRoute

from api.errors import status_for
from api.routes.ui._filters import render
from runtime.errors import DocumentError, InvalidModelRef, ModelportError

__all__ = ["PageRoute", "error_page", "page_status"]

log = logging.getLogger("modelport.api")

# Where a page differs from the REST status of ``api.errors.STATUS`` (looked up first,
# along the MRO): a page URL is typed by hand, so a name or version that cannot exist
# names nothing (404), and any other refused value is a plain bad request (400). A
# stored document that does not decode is the server's fault, never the visitor's.
_PAGE_STATUS: dict[type[Exception], int] = {
    InvalidModelRef: 404,
    DocumentError: 500,
    ValueError: 400,
}
_TITLES = {400: "Bad request", 404: "Not found"}


def page_status(exc: ModelportError) -> int:
    """The HTTP status of the error page for ``exc``: the page table, then the REST one."""
    mapped = (_PAGE_STATUS[c] for c in type(exc).__mro__ if c in _PAGE_STATUS)
    return next(mapped, None) or status_for(exc)


def error_page(status: int, title: str, detail: str) -> HTMLResponse:
    """``error.html`` with ``status``: what went wrong, and the way back to the models."""
    return render("error.html", status, title=title, detail=detail, status_code=status)


def _error_page_for(request: Request, exc: ModelportError) -> HTMLResponse:
    status = page_status(exc)
    if status >= 500:
        log.error("page %s failed: %s", request.url.path, exc, exc_info=exc)
    shown = status < 500 or status in (501, 503)  # as the REST answer: no internals
    detail = str(exc) if shown else "internal error; see server logs"
    return error_page(status, _TITLES.get(status, HTTPStatus(status).phrase), detail)


class PageRoute(APIRoute):
    """A UI route: a modelport error raised by the handler or its dependencies becomes
    the HTML error page instead of problem+json."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def handle_page(request: Request) -> Response:
            try:
                return await handle(request)
            except ModelportError as exc:
                return _error_page_for(request, exc)

        return handle_page

"""Who may see the pages: sign-in first when reading the registry needs a token.

The token a user signs in with is kept in an HTTP-only, same-site cookie; a page
asked for without one (or with one the registry no longer accepts) redirects to
``/signin?next=<the page>``. Assets and the sign-in pages themselves stay open.
"""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import RedirectResponse, Response

from api.auth import COOKIE, Level, access_of
from api.routes.ui._filters import PAGE_HEADERS, VIEWER
from runtime.errors import Unauthorized

__all__ = ["COOKIE_DAYS", "SignInNeeded", "safe_next", "sign_in_redirect", "viewer"]

_OPEN_PATHS = ("/static/", "/signin", "/signout")
COOKIE_DAYS = 14


class SignInNeeded(Exception):
    """A page that needs a token was asked for without one: go to the sign-in page."""

    def __init__(self, target: str, stale_cookie: bool) -> None:
        super().__init__(target)
        self.target = target
        self.stale_cookie = stale_cookie  # a token the registry no longer accepts


async def viewer(request: Request) -> None:
    """Every UI page: sign-in first when reading needs a token (assets stay open).

    Raises :class:`SignInNeeded`, answered by :func:`sign_in_redirect`.
    """
    access = access_of(request)
    if not access.enabled:
        VIEWER.set("open")
        return
    if request.url.path.startswith(_OPEN_PATHS):
        VIEWER.set("anonymous")
        return
    cookie = request.cookies.get(COOKIE)
    try:
        level = access.check(cookie, write=False)
    except Unauthorized as exc:
        raise SignInNeeded(_here(request), stale_cookie=bool(cookie)) from exc
    VIEWER.set("signed-in" if level > Level.ANONYMOUS else "anonymous")


def _here(request: Request) -> str:
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


def sign_in_redirect(request: Request, exc: Exception) -> Response:
    """The response for :class:`SignInNeeded`: 303 to /signin, remembering the page."""
    assert isinstance(exc, SignInNeeded)
    response = RedirectResponse(
        "/signin?" + urlencode({"next": exc.target}), status_code=303, headers=PAGE_HEADERS
    )
    if exc.stale_cookie:
        response.delete_cookie(COOKIE, path="/")
    return response


def safe_next(target: str) -> str:
    """Only a path on this site: never another origin (``//host``, ``/\\host``, a URL)."""
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    if any(ord(c) < 0x21 or ord(c) == 0x7F for c in target):  # browsers drop tabs etc.
        return "/"
    return target

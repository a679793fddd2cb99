"""Who may read and who may write: bearer tokens from the settings.

``MODELPORT_WRITE_TOKENS`` and ``MODELPORT_READ_TOKENS`` hold comma-separated tokens,
each either the token itself or ``sha256:<hex digest>`` so that the configuration
need not hold the secret. A request carries its token as ``Authorization: Bearer …``
(the SDK, the CLI and ``runtime.load`` send ``MODELPORT_TOKEN``) or, in a browser, in
the cookie the sign-in page sets.

- No tokens configured: everyone may read and write (a registry on your own machine).
- Write tokens: uploads and alias changes need one.
- Read tokens: every read needs a read or a write token; if no write tokens are set,
  a read token may also write.
- A token that matches nothing is refused (401) rather than treated as anonymous.

Health checks, the OpenAPI document and static assets stay open.
"""

from __future__ import annotations

import hashlib
import hmac
from enum import IntEnum
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Receive, Scope, Send

from api.errors import auth_headers, send_problem, status_for
from registry import Settings, token_entries
from runtime.errors import Forbidden, ModelportError, Unauthorized

__all__ = [
    "COOKIE",
    "Access",
    "Level",
    "WriteAccess",
    "WriteGuard",
    "may_read",
    "require_read",
    "require_write",
]

#: The cookie the UI's sign-in page sets (HttpOnly, SameSite=Strict).
COOKIE = "modelport_token"

_SCHEME = HTTPBearer(auto_error=False, description="A registry token (MODELPORT_TOKEN)")


class Level(IntEnum):
    ANONYMOUS = 0
    READ = 1
    WRITE = 2


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def _digests(text: str) -> list[bytes]:
    out = []
    for entry in token_entries(text):
        if entry.startswith("sha256:"):
            out.append(bytes.fromhex(entry.removeprefix("sha256:")))
        else:
            out.append(_digest(entry))
    return out


class Access:
    """The access rules of one registry process."""

    def __init__(self, settings: Settings) -> None:
        self._write = _digests(settings.write_tokens)
        self._read = _digests(settings.read_tokens)

    @property
    def enabled(self) -> bool:
        return bool(self._write or self._read)

    @property
    def read_needs_token(self) -> bool:
        return bool(self._read)

    def level(self, token: str | None) -> Level:
        """The level ``token`` grants; :class:`Unauthorized` for a token that matches none."""
        if not self.enabled or token is None:
            return Level.ANONYMOUS
        digest = _digest(token)
        # compare against every entry, so the time taken does not tell which one matched
        write = any([hmac.compare_digest(digest, d) for d in self._write])
        read = any([hmac.compare_digest(digest, d) for d in self._read])
        if write:
            return Level.WRITE
        if read:
            return Level.READ
        raise Unauthorized(
            "the token sent is not one this registry accepts; check MODELPORT_TOKEN "
            "(or sign in again on the web UI)"
        )

    def needed(self, write: bool) -> Level:
        """The level a read (``write=False``) or a write needs."""
        if write:
            if self._write:
                return Level.WRITE
            return Level.READ if self._read else Level.ANONYMOUS
        return Level.READ if self._read else Level.ANONYMOUS

    def check(self, token: str | None, *, write: bool) -> Level:
        """The caller's level if it suffices, else :class:`Unauthorized` / :class:`Forbidden`."""
        have = self.level(token)
        need = self.needed(write)
        if have >= need:
            return have
        action = "upload models or change aliases" if write else "read from it"
        if have == Level.ANONYMOUS:
            raise Unauthorized(
                f"this registry needs a token to {action}; send 'Authorization: Bearer "
                "<token>' (the modelport CLI, SDK and runtime send MODELPORT_TOKEN), or sign "
                "in on the web UI"
            )
        raise Forbidden(
            f"this token may read but not {action}; use a token listed in MODELPORT_WRITE_TOKENS"
        )


def connection_token(conn: HTTPConnection) -> str | None:
    """The token of a request: the ``Authorization: Bearer`` header, else the UI's cookie."""
    scheme, _, value = conn.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return conn.cookies.get(COOKIE) or None


def may_read(access: Access, conn: HTTPConnection) -> bool:
    """Whether ``conn`` may read (what :func:`require_read` lets through), without raising."""
    if not access.enabled:
        return True
    try:
        access.check(connection_token(conn), write=False)
    except ModelportError:
        return False
    return True


def access_of(request: Request) -> Access:
    access: Access = request.app.state.access
    return access


# Both are ``async`` (they do no I/O) so that FastAPI does not send them to the thread pool.
# The ``_bearer`` parameter only declares the scheme in the OpenAPI document (the
# "Authorize" button of /docs); the token itself is read by connection_token, as in
# WriteGuard, so that both places accept exactly the same requests.


async def require_read(
    request: Request, _bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_SCHEME)]
) -> Level:
    """Dependency: the request may read."""
    return access_of(request).check(connection_token(request), write=False)


async def require_write(
    request: Request, _bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_SCHEME)]
) -> Level:
    """Dependency: the request may upload and change aliases."""
    return access_of(request).check(connection_token(request), write=True)


WriteAccess = Annotated[Level, Depends(require_write)]


class WriteGuard:
    """Refuse a write to the REST API without a write token before its body is read.

    FastAPI parses an upload's multipart body before any dependency runs, so without
    this a client without a token could still make the server spool gigabytes.
    """

    _WRITES = ("POST", "PUT", "PATCH", "DELETE")

    def __init__(self, app: ASGIApp, access: Access) -> None:
        self.app = app
        self.access = access

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and self.access.enabled
            and scope["method"] in self._WRITES
            and str(scope.get("path", "")).startswith("/api/")
        ):
            conn = HTTPConnection(scope)
            try:
                self.access.check(connection_token(conn), write=True)
            except ModelportError as exc:
                status = status_for(exc)
                await send_problem(
                    send, status, type(exc).__name__, str(exc), conn.url.path, auth_headers(status)
                )
                return
        await self.app(scope, receive, send)

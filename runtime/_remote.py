"""A read-only fetcher for the registry's REST API v1 (version documents and artifacts)."""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Iterator
from typing import Any

from runtime import errors
from runtime._refs import ModelRef
from runtime.errors import ModelportError, RegistryUnavailable

__all__ = ["DEFAULT_URL", "Fetcher", "registry_url"]

DEFAULT_URL = "http://127.0.0.1:8000"
_UNAVAILABLE = frozenset({502, 503, 504})


def registry_url(url: str | None) -> str:
    """The registry to use: the argument, else ``MODELPORT_URL``, else the local default."""
    return (url or os.environ.get("MODELPORT_URL") or DEFAULT_URL).rstrip("/")


def _problem(resp: Any) -> ModelportError:
    """The project's exception for an error response (RFC 9457 problem details)."""
    try:
        body = resp.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):  # not a problem document (a proxy's page, a bare list)
        body = {}
    kind = str(body.get("type", "")).rsplit("/", 1)[-1]
    detail = body.get("detail") or body.get("title") or resp.text[:200] or resp.reason_phrase
    cls = getattr(errors, kind, None)
    if not (isinstance(cls, type) and issubclass(cls, ModelportError)):
        cls = ModelportError
    if resp.status_code in (401, 403) and cls is ModelportError:
        detail = f"{detail} (set MODELPORT_TOKEN or pass token= with a valid token)"
    return cls(f"registry answered {resp.status_code} for {resp.request.url}: {detail}")


def _import_httpx() -> Any:
    """httpx, without its command-line entry point.

    httpx's package imports ``httpx._main`` (click, rich, pygments) when those are
    installed, which is about 40 ms of a fresh process's first ``runtime.load``. The
    runtime never runs that command, so the first import is made with the module
    blocked; the block is lifted at once, and a later ``import httpx._main`` works.
    """
    if "httpx" in sys.modules or "httpx._main" in sys.modules:
        import httpx

        return httpx
    sys.modules["httpx._main"] = None  # type: ignore[assignment]
    try:
        import httpx
    finally:
        del sys.modules["httpx._main"]
    return httpx


class _SchemeTransport:
    """httpx's default transport, one pool per URL scheme, each made on its first request.

    httpx's own default builds a verifying TLS context (loading certifi's CA bundle, about
    20 ms) when the client is created, although a registry on plain ``http://`` never uses
    it. Here the ``https`` pool is httpx's default (verified against certifi's bundle) and
    is made only when a request needs it, e.g. a redirect to an object store's presigned
    URL; the ``http`` pool gets a bare context that verifies but trusts no CA, so it could
    only fail closed, and it never carries TLS anyway.
    """

    def __init__(self, httpx: Any) -> None:
        self._httpx = httpx
        self._pools: dict[str, Any] = {}
        self._lock = threading.Lock()

    def _pool(self, scheme: str) -> Any:
        pool = self._pools.get(scheme)
        if pool is None:
            with self._lock:
                pool = self._pools.get(scheme)
                if pool is None:
                    verify: Any = True
                    if scheme == "http":
                        import ssl

                        verify = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # no CA: fails closed
                    pool = self._pools[scheme] = self._httpx.HTTPTransport(verify=verify)
        return pool

    def handle_request(self, request: Any) -> Any:
        return self._pool(request.url.scheme).handle_request(request)

    def close(self) -> None:
        with self._lock:
            pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            pool.close()

    def __enter__(self) -> _SchemeTransport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Fetcher:
    """Talks to one registry. Connection failures raise :class:`RegistryUnavailable`."""

    def __init__(self, url: str, token: str | None = None, timeout: float = 30.0) -> None:
        httpx = _import_httpx()
        self.url = url
        token = token or os.environ.get("MODELPORT_TOKEN")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._httpx = httpx
        self._client = httpx.Client(
            base_url=url,
            headers=headers,
            timeout=httpx.Timeout(timeout, connect=5.0),
            transport=_SchemeTransport(httpx),
        )

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _unreachable(self, exc: Exception) -> RegistryUnavailable:
        return RegistryUnavailable(f"registry {self.url} is unreachable: {exc}")

    def version(self, ref: ModelRef) -> dict[str, Any]:
        """The version document of ``ref`` (number, ``latest`` or alias)."""
        return self._get_json(f"/api/v1/models/{ref.name}/versions/{ref.ref}")

    def _get_json(self, path: str) -> dict[str, Any]:
        try:
            resp = self._client.get(path)
        except self._httpx.TransportError as exc:
            raise self._unreachable(exc) from exc
        if resp.status_code in _UNAVAILABLE:
            # the registry is up but cannot answer (e.g. its database is down): for the
            # caller this is the same as unreachable, so the cache may step in
            raise RegistryUnavailable(f"{_problem(resp)}")
        if resp.status_code != 200:
            raise _problem(resp)
        doc: dict[str, Any] = resp.json()
        return doc

    def alias(self, name: str, alias: str) -> dict[str, Any]:
        """The alias document of ``name@alias`` (its version weights)."""
        return self._get_json(f"/api/v1/models/{name}/aliases/{alias}")

    def download(self, name: str, version: int, fmt: str) -> Iterator[bytes]:
        """Stream the artifact's bytes."""
        path = f"/api/v1/models/{name}/versions/{version}/artifacts/{fmt}"
        try:
            # with an object store the registry answers a redirect to a presigned URL;
            # httpx drops the Authorization header when a redirect leaves this origin
            with self._client.stream("GET", path, follow_redirects=True) as resp:
                if resp.status_code != 200:
                    resp.read()
                    raise _problem(resp)
                yield from resp.iter_bytes()  # as received: no re-chunking copies
        except self._httpx.TransportError as exc:
            raise self._unreachable(exc) from exc

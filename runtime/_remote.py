"""The one HTTP seam to a registry's REST API v1.

:class:`Fetcher` owns what every request to a registry shares: the connection pool,
the ``Authorization`` header, timeouts, and the decoding of error answers into the
project's exceptions (:mod:`runtime._problems`). ``runtime.load`` reads version
documents and artifacts through it; the SDK (``clients.Registry``) builds its methods
on top of it, the way httpx's ``Client`` sits on its ``BaseTransport``.

Artifact bodies go through a second client whose transport reads the socket into
large reusable buffers (:mod:`runtime._bulk`, written to disk by
:mod:`runtime._transfer`), unless the caller brought its own httpx client or a proxy
is configured.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import TYPE_CHECKING, Any

from runtime._problems import decode_problem, error_for, unavailable
from runtime._refs import ModelRef
from runtime.errors import InvalidModelRef, ModelportError, RegistryUnavailable

if TYPE_CHECKING:
    import httpx

__all__ = ["DEFAULT_URL", "Fetcher", "registry_token", "registry_url"]

DEFAULT_URL = "http://127.0.0.1:8000"
API = "/api/v1"
_UNAVAILABLE = frozenset({502, 503, 504})
_PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy")


def registry_url(url: str | None) -> str:
    """The registry to use: the argument, else ``MODELPORT_URL``, else the local default."""
    return (url or os.environ.get("MODELPORT_URL") or DEFAULT_URL).rstrip("/")


def registry_token(token: str | None) -> str | None:
    """The token to send: the argument (``""`` for none), else ``MODELPORT_TOKEN``."""
    return token if token is not None else os.environ.get("MODELPORT_TOKEN") or None


def error_from_response(
    response: httpx.Response, default_422: type[ModelportError] = InvalidModelRef
) -> ModelportError:
    """The exception for an error answer whose body has been read (not raised)."""
    status, reason = response.status_code, response.reason_phrase
    problem, body = decode_problem(status, response.content, reason)
    return error_for(status, problem, body, reason, default_422=default_422)


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


def _proxied() -> bool:
    return any(v for k, v in os.environ.items() if k.lower() in _PROXY_VARIABLES)


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
    """Talks to one registry. Connection failures raise :class:`RegistryUnavailable`;
    error answers raise the class their problem document names (see runtime._problems).

    ``token`` ``None`` means ``MODELPORT_TOKEN``. Pass ``client`` to send through your
    own ``httpx.Client`` (its hooks, transport and settings apply to every request;
    it is not closed here).
    """

    def __init__(
        self,
        url: str,
        token: str | None = None,
        timeout: float = 30.0,
        *,
        client: httpx.Client | None = None,
        connect_timeout: float | None = 5.0,
    ) -> None:
        hx = _import_httpx()
        self.url = url.rstrip("/")
        self.token = registry_token(token)
        self._httpx = hx
        self._owns_client = client is None
        if client is None:
            connect = timeout if connect_timeout is None else connect_timeout
            client = hx.Client(
                timeout=hx.Timeout(timeout, connect=connect), transport=_SchemeTransport(hx)
            )
        self._client: httpx.Client = client
        self._bulk: httpx.Client | None = None

    def close(self) -> None:
        """Close the connection pools (not an injected client)."""
        if self._owns_client:
            self._client.close()
        if self._bulk is not None and self._bulk is not self._client:
            self._bulk.close()

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- requests ---------------------------------------------------------------------

    def headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        """The headers of every request: JSON wanted, the token when there is one."""
        headers = {"Accept": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        headers.update(extra or {})
        return headers

    def request(
        self,
        method: str,
        path: str,
        *,
        default_422: type[ModelportError] = InvalidModelRef,
        headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        """Send one request to ``path`` (under the registry's URL) and return a success.

        Error answers raise their problem's class (a 422 without one: ``default_422``);
        no answer at all raises :class:`RegistryUnavailable`.
        """
        hx = self._httpx
        try:
            response: httpx.Response = self._client.request(
                method, self.url + path, headers=self.headers(headers), **kwargs
            )
        except (hx.TransportError, hx.InvalidURL) as exc:
            raise unavailable(self.url, exc) from exc
        if response.status_code >= 400:
            raise error_from_response(response, default_422)
        return response

    def get_json(self, path: str, **kwargs: Any) -> Any:
        return self.request("GET", path, **kwargs).json()

    @contextmanager
    def stream(
        self, path: str, headers: dict[str, str] | None = None, *, bulk: bool = False
    ) -> Iterator[httpx.Response]:
        """A streamed GET of ``path``, redirects followed; error answers raise as in
        :meth:`request`, and so does a connection lost while the body is read.

        With an object store the registry answers a redirect to a presigned URL; httpx
        drops the ``Authorization`` header when a redirect leaves this origin.
        ``bulk`` reads the body through the large-buffer transport (see the module).
        """
        hx = self._httpx
        client = self._bulk_client() if bulk else self._client
        try:
            with client.stream(
                "GET", self.url + path, headers=self.headers(headers), follow_redirects=True
            ) as response:
                if response.status_code >= 400:
                    response.read()
                    raise error_from_response(response)
                yield response
        except (hx.TransportError, hx.InvalidURL) as exc:
            raise unavailable(self.url, exc) from exc

    def _bulk_client(self) -> httpx.Client:
        if self._bulk is None:
            if self._owns_client and not _proxied():
                from runtime._bulk import BlockTransport

                bulk: httpx.Client = self._httpx.Client(
                    transport=BlockTransport(), timeout=self._client.timeout
                )
                self._bulk = bulk
            else:
                self._bulk = self._client
        return self._bulk

    # -- what runtime.load reads ------------------------------------------------------

    def _get_doc(self, path: str) -> dict[str, Any]:
        try:
            doc: dict[str, Any] = self.get_json(path)
        except ModelportError as exc:
            if exc.status in _UNAVAILABLE and not isinstance(exc, RegistryUnavailable):
                # the registry is up but cannot answer (e.g. its database is down): for
                # the caller this is the same as unreachable, so the cache may step in
                down = RegistryUnavailable(str(exc))
                down.problem, down.status = exc.problem, exc.status
                raise down from exc
            raise
        return doc

    def version(self, ref: ModelRef) -> dict[str, Any]:
        """The version document of ``ref`` (number, ``latest`` or alias)."""
        return self._get_doc(f"{API}/models/{ref.name}/versions/{ref.ref}")

    def alias(self, name: str, alias: str) -> dict[str, Any]:
        """The alias document of ``name@alias`` (its version weights)."""
        return self._get_doc(f"{API}/models/{name}/aliases/{alias}")

    def artifact_path(self, name: str, version: int, fmt: str) -> str:
        return f"{API}/models/{name}/versions/{version}/artifacts/{fmt}"

    def artifact(
        self, name: str, version: int, fmt: str, headers: dict[str, str] | None = None
    ) -> AbstractContextManager[httpx.Response]:
        """The streamed answer for an artifact's bytes, read through the large-buffer
        transport; hand it to :func:`runtime._transfer.write_verified`. Artifacts are
        asked for as they are stored (no content coding: they do not compress)."""
        headers = {"Accept-Encoding": "identity", **(headers or {})}
        return self.stream(self.artifact_path(name, version, fmt), headers, bulk=True)

    def download(self, name: str, version: int, fmt: str) -> Iterator[bytes]:
        """Stream the artifact's bytes as received."""
        with self.stream(self.artifact_path(name, version, fmt)) as resp:
            yield from resp.iter_bytes()

"""An httpx transport for large bodies: one ``http.client`` connection per request.

httpx's own transport hands a body over as 64 KiB ``bytes`` chunks that h11 has
copied twice on the way (into its receive buffer, out of it); for a 200 MB artifact
that copying costs more CPU than hashing and writing the bytes together. This
transport sends the request with ``http.client`` (already loaded by httpx) and
offers the body as ``readinto``, which fills a caller's buffer straight from the
socket: :func:`runtime._transfer.write_verified` reads multi-MiB blocks that way.

It sits under an ``httpx.Client`` like any transport, so redirects (the presigned
URL of an object store, without the ``Authorization`` header once the origin
changes), timeouts and event hooks stay httpx's. The body is still iterable, for
error answers and for anything that does not ask for ``readinto``.
"""

from __future__ import annotations

import http.client
from collections.abc import Iterator
from typing import Any

import httpx

from runtime._transfer import READINTO

__all__ = ["BlockTransport"]

_CHUNK = 1 << 16


class _Body(httpx.SyncByteStream):
    """The body of one answer; closing it closes its connection."""

    def __init__(
        self,
        conn: http.client.HTTPConnection,
        resp: http.client.HTTPResponse,
        request: httpx.Request,
    ) -> None:
        self._conn = conn
        self._resp = resp
        self._request = request

    def _failed(self, exc: Exception) -> httpx.TransportError:
        if isinstance(exc, TimeoutError):
            return httpx.ReadTimeout(f"reading the body timed out: {exc}", request=self._request)
        if isinstance(exc, http.client.HTTPException):
            what = f"the connection ended early: {exc!r}"
            return httpx.RemoteProtocolError(what, request=self._request)
        return httpx.ReadError(f"reading the body failed: {exc}", request=self._request)

    def _ended(self) -> None:
        # http.client reports a body cut short as its end (it raises only when asked
        # for everything at once): bytes promised by Content-Length still missing
        if self._resp.length:
            missing = http.client.IncompleteRead(b"", self._resp.length)
            raise self._failed(missing)

    def readinto(self, buffer: memoryview) -> int:
        """Fill ``buffer`` from the socket as far as one read goes; 0 at the end."""
        try:
            n = self._resp.readinto(buffer)
        except (OSError, http.client.HTTPException) as exc:
            raise self._failed(exc) from exc
        if not n and len(buffer):
            self._ended()
        return n

    def __iter__(self) -> Iterator[bytes]:
        while True:
            try:
                chunk = self._resp.read(_CHUNK)
            except (OSError, http.client.HTTPException) as exc:
                raise self._failed(exc) from exc
            if not chunk:
                self._ended()
                return
            yield chunk

    def close(self) -> None:
        self._resp.close()
        self._conn.close()


class BlockTransport(httpx.BaseTransport):
    """Each request on a fresh connection (no pool: a transfer of many MB amortises
    the connect); the answer's body offers ``readinto`` under the ``READINTO``
    extension key."""

    def __init__(self) -> None:
        self._ssl: Any = None

    def _connection(self, url: httpx.URL, connect_timeout: float | None) -> Any:
        if url.scheme == "https":
            if self._ssl is None:
                self._ssl = httpx.create_ssl_context()
            return http.client.HTTPSConnection(
                url.host, url.port, timeout=connect_timeout, context=self._ssl
            )
        if url.scheme != "http":
            raise httpx.UnsupportedProtocol(f"no transport for {url.scheme!r} URLs: {url}")
        return http.client.HTTPConnection(url.host, url.port, timeout=connect_timeout)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        timeouts = request.extensions.get("timeout", {})
        conn = self._connection(request.url, timeouts.get("connect"))
        try:
            try:
                conn.connect()
            except TimeoutError as exc:
                raise httpx.ConnectTimeout(str(exc), request=request) from exc
            except OSError as exc:
                raise httpx.ConnectError(str(exc), request=request) from exc
            assert conn.sock is not None
            conn.sock.settimeout(timeouts.get("read"))
            try:
                target = request.url.raw_path.decode("ascii")
                conn.putrequest(request.method, target, skip_host=True, skip_accept_encoding=True)
                for key, value in request.headers.raw:
                    conn.putheader(key.decode("latin-1"), value)
                conn.endheaders(request.read() or None)
                resp = conn.getresponse()
            except TimeoutError as exc:
                raise httpx.ReadTimeout(str(exc), request=request) from exc
            except (OSError, http.client.HTTPException) as exc:
                raise httpx.RemoteProtocolError(str(exc), request=request) from exc
        except BaseException:
            conn.close()
            raise
        body = _Body(conn, resp, request)
        return httpx.Response(
            resp.status,
            headers=resp.getheaders(),
            stream=body,
            extensions={
                "http_version": b"HTTP/1.1",
                "reason_phrase": resp.reason.encode("latin-1", "replace"),
                READINTO: body.readinto,
            },
        )

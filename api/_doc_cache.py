"""Version documents served from memory, pre-encoded, with ETags.

A ``ready`` version never changes again, so its wire document is encoded once (the
first time it is read) and kept as bytes in a bounded LRU keyed by (model, number).
References that move (an alias, ``latest``) resolve to a number through a short-lived
entry. The API drops a model's entries whenever it writes to that model (a new version,
an alias set or removed), so one process always serves what the database holds; the
time-to-live (``MODELPORT_METADATA_CACHE_TTL_S``) bounds how long another process's
write can go unseen when several server processes share one database.

Versions that are not ready are encoded on every read and never kept: their status is
what clients poll.

Concurrent misses of one reference share one database read (:meth:`VersionDocs.load`):
when an entry expires under many clients, the database answers one query, not one per
client (on PostgreSQL those also waited for pool connections to be opened).

:class:`CachedReads` answers a read whose document is in memory before FastAPI routes
it (no routing, no dependency solving, no thread hop); anything else, including every
request it cannot authorise, goes on to the routes, which fill the cache.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Receive, Scope, Send

from registry import ModelVersion
from runtime import ModelRef
from runtime.errors import VersionNotFound

__all__ = ["CachedDoc", "CachedReads", "VersionDocs", "cache_policy", "etag_matches"]

# A numbered ready version never changes (its 'aliases' list aside, which an HTTP cache
# may show stale); an alias or 'latest' may move at any time; an unfinished version is
# polled, so every read revalidates.
_IMMUTABLE = "max-age=31536000, immutable"
_MOVING = "max-age=5"


@dataclass(frozen=True, slots=True)
class CachedDoc:
    """One encoded version document and the validators HTTP caches need."""

    body: bytes
    etag: str
    number: int
    ready: bool

    @classmethod
    def of(cls, body: bytes, number: int, ready: bool) -> CachedDoc:
        return cls(body, f'"{hashlib.sha256(body).hexdigest()[:32]}"', number, ready)


def cache_policy(doc: CachedDoc, ref: str, private: bool) -> str:
    """The ``Cache-Control`` of ``doc`` read through ``ref``."""
    if not doc.ready:
        return "no-cache"
    scope = "private" if private else "public"
    return f"{scope}, {_IMMUTABLE if ref.isdecimal() else _MOVING}"


def etag_matches(header: str | None, etag: str) -> bool:
    """Whether an ``If-None-Match`` header names ``etag`` (weak comparison, RFC 9110 13.1.2)."""
    if not header:
        return False
    for part in header.split(","):
        tag = part.strip()
        if tag == "*" or tag.removeprefix("W/") == etag:
            return True
    return False


def _number(ref: str) -> int | None:
    """The version number a ref spells, or None (latest, an alias, or no valid number)."""
    try:
        return ModelRef.number_in(ref)
    except VersionNotFound:
        return None


class _Flight:
    """One read in progress, which concurrent loads of the same reference wait for."""

    __slots__ = ("doc", "done", "generation")

    def __init__(self, generation: int) -> None:
        self.generation = generation
        self.doc: CachedDoc | None = None
        self.done = threading.Event()


class VersionDocs:
    """A bounded, thread-safe cache of encoded version documents.

    ``encode`` turns a :class:`ModelVersion` into the response body; ``max_entries`` 0
    turns the cache off (every read encodes afresh).
    """

    def __init__(
        self,
        encode: Callable[[ModelVersion], bytes],
        max_entries: int = 4096,
        ttl_s: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._encode = encode
        self._max = max_entries
        self._ttl = ttl_s
        self._clock = clock
        self._lock = threading.Lock()
        self._docs: OrderedDict[tuple[str, int], tuple[CachedDoc, float]] = OrderedDict()
        self._refs: dict[tuple[str, str], tuple[int, float]] = {}
        self._generation: dict[str, int] = {}
        self._flights: dict[tuple[str, str], _Flight] = {}

    def __len__(self) -> int:
        return len(self._docs)

    def get(self, name: str, ref: str) -> CachedDoc | None:
        """The cached document of ``name`` at ``ref``, or None (read it with :meth:`load`)."""
        now = self._clock()
        number = _number(ref)
        with self._lock:
            if number is None:
                target = self._refs.get((name, ref))
                if target is None or target[1] <= now:
                    return None
                number = target[0]
            entry = self._docs.get((name, number))
            if entry is None or entry[1] <= now:
                return None
            self._docs.move_to_end((name, number))
            return entry[0]

    def load(self, read: Callable[[str, str], ModelVersion], name: str, ref: str) -> CachedDoc:
        """Read the version through ``read(name, ref)``, encode it and keep it when ready.

        Concurrent loads of one reference share one read (a burst of clients arriving as
        an entry expires costs the database one query, not one each). A load joins only a
        read that began after the model's last write in this process, and takes its
        answer only when it is a ready version (an unfinished one is read afresh: its
        status is what the caller polls); otherwise, or when that read failed, it reads
        for itself.
        """
        key = (name, ref)
        with self._lock:
            generation = self._generation.get(name, 0)
            flight = self._flights.get(key)
            if flight is None or flight.generation != generation or self._max <= 0:
                flight, leader = _Flight(generation), True
                if self._max > 0:  # with the cache off every read is its own
                    self._flights[key] = flight
            else:
                leader = False
        if not leader:
            flight.done.wait()
            if flight.doc is not None and flight.doc.ready:
                return flight.doc
            return self._read(read, name, ref, generation)
        try:
            flight.doc = self._read(read, name, ref, generation)
            return flight.doc
        finally:
            with self._lock:
                if self._flights.get(key) is flight:
                    del self._flights[key]
            flight.done.set()

    def _read(
        self, read: Callable[[str, str], ModelVersion], name: str, ref: str, generation: int
    ) -> CachedDoc:
        version = read(name, ref)
        doc = CachedDoc.of(self._encode(version), version.version, version.status == "ready")
        if self._max <= 0:
            return doc
        expires = self._clock() + self._ttl
        with self._lock:
            if self._generation.get(name, 0) != generation:
                return doc  # the model changed while we read it: keep nothing
            if _number(ref) is None:
                self._refs[(name, ref)] = (version.version, expires)
                if len(self._refs) > self._max:
                    self._refs.pop(next(iter(self._refs)))
            if doc.ready:
                self._docs[(name, version.version)] = (doc, expires)
                self._docs.move_to_end((name, version.version))
                while len(self._docs) > self._max:
                    self._docs.popitem(last=False)
        return doc

    def forget(self, name: str) -> None:
        """Drop every entry of model ``name`` (called after any write to it)."""
        with self._lock:
            self._generation[name] = self._generation.get(name, 0) + 1
            for number in [n for m, n in self._docs if m == name]:
                del self._docs[(name, number)]
            for ref in [r for m, r in self._refs if m == name]:
                del self._refs[(name, ref)]


_PREFIX = "/api/v1/models/"


class CachedReads:
    """ASGI middleware: answer ``GET`` of a cached version document straight from memory.

    ``allowed(conn)`` says whether the request may read (the same rule as the routes'
    read dependency); when it may not, or nothing is cached, the request goes on.
    """

    def __init__(
        self,
        app: ASGIApp,
        docs: VersionDocs,
        allowed: Callable[[HTTPConnection], bool],
        private: bool,
    ) -> None:
        self.app = app
        self.docs = docs
        self.allowed = allowed
        self.private = private

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            path: str = scope["path"]
            if path.startswith(_PREFIX):
                parts = path[len(_PREFIX) :].split("/")
                if len(parts) == 3 and parts[1] == "versions":
                    doc = self.docs.get(parts[0], parts[2])
                    if doc is not None and self.allowed(HTTPConnection(scope)):
                        await self._send(scope, send, doc, parts[2])
                        return
        await self.app(scope, receive, send)

    async def _send(self, scope: Scope, send: Send, doc: CachedDoc, ref: str) -> None:
        policy = cache_policy(doc, ref, self.private).encode()
        headers = [(b"etag", doc.etag.encode()), (b"cache-control", policy)]
        inm = next((v for k, v in scope["headers"] if k == b"if-none-match"), None)
        if inm is not None and etag_matches(inm.decode("latin-1"), doc.etag):
            await send({"type": "http.response.start", "status": 304, "headers": headers})
            await send({"type": "http.response.body", "body": b""})
            return
        headers += [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(doc.body)).encode()),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": doc.body})

"""Verified downloads (runtime._transfer) over real HTTP, through both receive paths.

A small HTTP server stands in for a network that misbehaves: it serves exact bytes,
chunked bytes, and a body cut short after its headers promised more.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from runtime import Cache
from runtime._remote import Fetcher
from runtime._transfer import BLOCK, READINTO, write_verified
from runtime.errors import IntegrityError, RegistryUnavailable
from tests.runtime._stub_http import stub_server

DATA = (hashlib.sha256(b"seed").digest() * ((2 * BLOCK + 12345) // 32 + 1))[: 2 * BLOCK + 12345]
SHA = hashlib.sha256(DATA).hexdigest()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        if self.path == "/chunked":
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for start in range(0, len(DATA), 1 << 20):
                part = DATA[start : start + (1 << 20)]
                self.wfile.write(f"{len(part):x}\r\n".encode() + part + b"\r\n")
            self.wfile.write(b"0\r\n\r\n")
            return
        self.send_header("Content-Length", str(len(DATA)))
        self.end_headers()
        if self.path == "/cut":  # promised everything, sends a little more than a block
            self.wfile.write(DATA[: BLOCK + 1000])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(DATA)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with stub_server(_Handler) as url:
        yield url


def _files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()]


@pytest.mark.parametrize("threaded", [True, False], ids=["hash-thread", "hash-inline"])
@pytest.mark.parametrize("bulk", [True, False], ids=["readinto", "chunks"])
@pytest.mark.parametrize("path", ["/exact", "/chunked"])
def test_every_byte_is_written_and_verified(server, tmp_path, bulk, path, threaded):
    seen: list[tuple[int, int | None]] = []
    with Fetcher(server) as fetcher, fetcher.stream(path, bulk=bulk) as resp:
        assert (READINTO in resp.extensions) is bulk
        target = write_verified(
            resp,
            tmp_path / "out" / "blob",
            SHA,
            size=len(DATA),
            progress=lambda *a: seen.append(a),
            threaded=threaded,
        )
    assert target.read_bytes() == DATA
    assert _files(tmp_path / "out") == [target]  # no temporary file left beside it
    done = [d for d, _ in seen]
    assert done == sorted(done) and done[-1] == len(DATA) and len(done) >= 2
    assert {t for _, t in seen} == {len(DATA)}


@pytest.mark.parametrize("bulk", [True, False], ids=["readinto", "chunks"])
def test_bytes_that_hash_wrong_leave_nothing(server, tmp_path, bulk):
    wrong = hashlib.sha256(b"other").hexdigest()
    with (
        Fetcher(server) as fetcher,
        fetcher.stream("/exact", bulk=bulk) as resp,
        pytest.raises(IntegrityError, match="nothing was kept"),
    ):
        write_verified(resp, tmp_path / "blob", wrong, size=len(DATA))
    assert _files(tmp_path) == []


@pytest.mark.parametrize("bulk", [True, False], ids=["readinto", "chunks"])
def test_a_cut_transfer_leaves_nothing_in_the_cache(server, tmp_path, bulk):
    cache = Cache(tmp_path / "cache")
    with (
        Fetcher(server) as fetcher,
        pytest.raises(RegistryUnavailable),
        fetcher.stream("/cut", bulk=bulk) as resp,
    ):
        cache.store(SHA, resp, len(DATA))
    assert _files(tmp_path / "cache" / "blobs") == []


def test_a_cut_transfer_keeps_a_partial_file_when_asked_then_resumes(server, tmp_path):
    partial = tmp_path / ".blob.part"
    with (
        Fetcher(server) as fetcher,
        pytest.raises(RegistryUnavailable),
        fetcher.stream("/cut", bulk=True) as resp,
    ):
        write_verified(resp, tmp_path / "blob", SHA, size=len(DATA), partial=partial)
    assert not (tmp_path / "blob").exists()
    kept = partial.stat().st_size
    assert 0 < kept < len(DATA) and partial.read_bytes() == DATA[:kept]
    # the rest, from a source of chunks, completes the same file
    target = write_verified(
        [DATA[kept:]], tmp_path / "blob", SHA, size=len(DATA), partial=partial, offset=kept
    )
    assert target.read_bytes() == DATA and not partial.exists()


def test_cache_store_of_plain_chunks_still_verifies(tmp_path):
    cache = Cache(tmp_path / "cache")
    path = cache.store(SHA, iter([DATA[:10], DATA[10:]]))
    assert path == cache.blob_path(SHA) and path.read_bytes() == DATA
    with pytest.raises(IntegrityError):
        cache.store(SHA, [DATA[:-1]])
    assert _files(tmp_path / "cache" / "blobs") == [path]


@pytest.mark.parametrize("threaded", [True, False], ids=["hash-thread", "hash-inline"])
def test_a_large_file_of_unknown_size_is_written_back_on_the_way(tmp_path, threaded):
    # beyond 32 MiB (or of unknown size) the disk writes start every 16 MiB; the bytes
    # and the verdict are the same
    block = hashlib.sha256(b"x").digest() * (1 << 15)  # 1 MiB
    chunks = [block] * 40 + [b"tail"]
    sha = hashlib.sha256(b"".join(chunks)).hexdigest()
    target = write_verified(iter(chunks), tmp_path / "big", sha, threaded=threaded)
    assert target.stat().st_size == 40 * len(block) + 4
    assert hashlib.sha256(target.read_bytes()).hexdigest() == sha
    with pytest.raises(IntegrityError):
        write_verified(iter(chunks[:-1]), tmp_path / "bad", sha, threaded=threaded)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big"]


@pytest.mark.parametrize("size", [None, 10, 10 * len(DATA)])
def test_a_wrong_or_missing_size_changes_nothing_but_progress(server, tmp_path, size):
    with Fetcher(server) as fetcher, fetcher.stream("/exact", bulk=True) as resp:
        target = write_verified(resp, tmp_path / "blob", SHA, size=size, threaded=False)
    assert target.read_bytes() == DATA

"""The content-addressed blob store and deterministic tar packing."""

from __future__ import annotations

import hashlib
import io
import tarfile
import time
from pathlib import Path

import pytest

from registry import BlobStore, LocalBlobStore, pack_directory
from runtime.errors import ArtifactNotFound, PayloadTooLarge


class Exploding(io.RawIOBase):
    """A stream that yields some bytes, then fails like a dropped connection."""

    def __init__(self) -> None:
        self.sent = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:
        if self.sent >= 3:
            raise ConnectionResetError("client went away")
        self.sent += 1
        buf[:4] = b"abcd"
        return 4


def _files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


def test_store_implements_the_protocol(tmp_path):
    assert isinstance(LocalBlobStore(tmp_path), BlobStore)


def test_put_stores_by_sha256_with_two_level_fanout(tmp_path):
    store = LocalBlobStore(tmp_path)
    data = b"hello model" * 1000
    blob = store.put(io.BytesIO(data))
    sha = hashlib.sha256(data).hexdigest()
    assert (blob.sha256, blob.size) == (sha, len(data))
    assert store.path(sha) == tmp_path / "sha256" / sha[:2] / sha[2:]
    assert store.path(sha).read_bytes() == data
    with store.open(sha) as fh:
        assert fh.read() == data


def test_identical_bytes_are_stored_once(tmp_path):
    store = LocalBlobStore(tmp_path)
    a = store.put(io.BytesIO(b"same bytes"))
    b = store.put(io.BytesIO(b"same bytes"))
    assert a == b
    assert len(_files(tmp_path / "sha256")) == 1
    assert _files(tmp_path / "tmp") == []


def test_failed_stream_leaves_no_blob_and_no_temp_file(tmp_path):
    store = LocalBlobStore(tmp_path)
    with pytest.raises(ConnectionResetError):
        store.put(io.BufferedReader(Exploding()))
    assert _files(tmp_path) == []


def test_size_limit_is_enforced_while_streaming(tmp_path):
    store = LocalBlobStore(tmp_path)
    with pytest.raises(PayloadTooLarge, match="MODELPORT_MAX_UPLOAD_BYTES"):
        store.put(io.BytesIO(b"x" * 101), limit=100)
    assert _files(tmp_path) == []
    assert store.put(io.BytesIO(b"x" * 100), limit=100).size == 100


def test_staged_blob_is_discarded_unless_committed(tmp_path):
    store = LocalBlobStore(tmp_path)
    with store.staging(io.BytesIO(b"draft")) as staged:
        assert staged.path.read_bytes() == b"draft"
    assert not store.exists(staged.sha256)
    assert _files(tmp_path) == []
    with store.staging(io.BytesIO(b"final")) as staged:
        staged.commit()
    assert store.exists(staged.sha256)


def test_missing_or_malformed_blob_ids_raise_artifact_not_found(tmp_path):
    store = LocalBlobStore(tmp_path)
    with pytest.raises(ArtifactNotFound):
        store.open("0" * 64)
    with pytest.raises(ArtifactNotFound, match="64 hex"):
        store.path("../../etc/passwd")


def _tree(root: Path) -> Path:
    (root / "variables").mkdir(parents=True)
    (root / "saved_model.pb").write_bytes(b"graph")
    (root / "variables" / "variables.index").write_bytes(b"index")
    (root / "variables" / "variables.data-00000-of-00001").write_bytes(b"weights" * 10)
    return root


def test_packing_is_deterministic_and_lists_members(tmp_path):
    a = _tree(tmp_path / "a")
    b = _tree(tmp_path / "b")
    (b / "saved_model.pb").touch()  # other mtime, same bytes
    files_a = pack_directory(a, tmp_path / "a.tar")
    files_b = pack_directory(b, tmp_path / "b.tar")
    assert (tmp_path / "a.tar").read_bytes() == (tmp_path / "b.tar").read_bytes()
    assert files_a == files_b
    assert [f["path"] for f in files_a] == [
        "saved_model.pb",
        "variables/variables.data-00000-of-00001",
        "variables/variables.index",
    ]
    assert files_a[0]["sha256"] == hashlib.sha256(b"graph").hexdigest()
    with tarfile.open(tmp_path / "a.tar") as tar:
        members = tar.getmembers()
    assert [m.name for m in members] == sorted(m.name for m in members)
    assert {(m.mtime, m.uid, m.gid, m.uname, m.gname) for m in members} == {(0, 0, 0, "", "")}


def test_packing_refuses_symlinks(tmp_path):
    root = _tree(tmp_path / "a")
    (root / "link").symlink_to("/etc/passwd")
    with pytest.raises(ValueError, match="symlink"):
        pack_directory(root, tmp_path / "a.tar")


def test_staging_files_of_dead_writers_are_reclaimed_and_live_ones_kept(tmp_path):
    import os
    import subprocess
    import sys

    store = LocalBlobStore(tmp_path)
    tmp = tmp_path / "tmp"
    # a writer that died: its file is there, nobody holds its lock
    (tmp / "upload-dead").write_bytes(b"x" * 100)
    # a live writer in another process holds its lock
    live = tmp / "upload-live"
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import fcntl, os, sys, time; fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT); "
         "fcntl.flock(fd, fcntl.LOCK_EX); print('locked', flush=True); time.sleep(60)",
         str(live)],
        stdout=subprocess.PIPE,
    )
    try:
        assert holder.stdout.readline() == b"locked\n"
        with store.staging(io.BytesIO(b"in flight")) as staged:  # this process's own upload
            removed = store.reclaim_staging()
            assert removed == [tmp / "upload-dead"]
            assert staged.path.exists() and live.exists()
        # by age, even a held file goes (a writer stuck for a day, or a lock the
        # file system does not keep)
        old = time.time() - 2 * 24 * 3600
        os.utime(live, (old, old))
        assert store.reclaim_staging() == [live]
    finally:
        holder.kill()
        holder.wait()


def test_opening_a_store_reclaims_abandoned_staging_files(tmp_path):
    (tmp_path / "tmp").mkdir()
    (tmp_path / "tmp" / "upload-abc").write_bytes(b"partial")
    LocalBlobStore(tmp_path)
    assert _files(tmp_path / "tmp") == []

"""Every ``BlobStore`` implementation honours the protocol the registry is typed against.

Stores join by adding a parameter to the ``blob_store`` fixture; the tests below use
only protocol methods, so they hold for a local folder and an object store alike.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator
from pathlib import Path

import pytest

from registry import BlobStore, LocalBlobStore, S3BlobStore
from runtime.errors import ArtifactNotFound, PayloadTooLarge


@pytest.fixture(params=["local", "s3"])
def blob_store(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[BlobStore]:
    if request.param == "local":
        yield LocalBlobStore(tmp_path / "blobs")
        return
    server = request.getfixturevalue("s3_server")  # SeaweedFS, a real S3 server
    for key, value in server.env.items():
        monkeypatch.setenv(key, value)
    yield S3BlobStore(server.store_url(), tmp_path / "staging")


def test_store_satisfies_the_protocol(blob_store: BlobStore) -> None:
    assert isinstance(blob_store, BlobStore)


def test_staged_bytes_are_readable_locally_and_kept_only_on_commit(blob_store) -> None:
    with blob_store.staging(io.BytesIO(b"draft")) as staged:
        assert staged.path.read_bytes() == b"draft"
        assert (staged.sha256, staged.size) == (hashlib.sha256(b"draft").hexdigest(), 5)
    assert not staged.path.exists()
    assert not blob_store.exists(staged.sha256)
    with blob_store.staging(io.BytesIO(b"final")) as staged:
        blob = staged.commit()
        assert staged.commit() == blob  # committing twice is harmless
    assert not staged.path.exists()
    assert blob_store.exists(blob.sha256) and blob_store.size(blob.sha256) == 5


def test_limit_refuses_the_bytes_and_stores_nothing(blob_store) -> None:
    data = b"x" * 101
    with pytest.raises(PayloadTooLarge):
        blob_store.put(io.BytesIO(data), limit=100)
    assert not blob_store.exists(hashlib.sha256(data).hexdigest())


def test_put_file_open_seek_and_copy(blob_store, tmp_path: Path) -> None:
    data = bytes(range(256)) * 40
    (tmp_path / "in.bin").write_bytes(data)
    blob = blob_store.put_file(tmp_path / "in.bin")
    assert blob == blob_store.put(io.BytesIO(data))  # same bytes, same blob
    with blob_store.open(blob.sha256) as fh:
        fh.seek(1000)  # downloads with a Range header seek
        assert fh.read(10) == data[1000:1010]
    blob_store.copy_to(blob.sha256, tmp_path / "out.bin")
    assert (tmp_path / "out.bin").read_bytes() == data


def test_unknown_and_malformed_ids_are_artifact_not_found(blob_store) -> None:
    assert not blob_store.exists("0" * 64)
    with pytest.raises(ArtifactNotFound):
        blob_store.open("0" * 64)
    with pytest.raises(ArtifactNotFound, match="64 hex"):
        blob_store.open("../../etc/passwd")


def test_writable_store_passes_the_readiness_probe(blob_store) -> None:
    blob_store.check_writable()

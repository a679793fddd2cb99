"""The S3 blob store against a real S3 server (SeaweedFS)."""

from __future__ import annotations

import hashlib
import io
import time
from datetime import timedelta

import httpx
import pytest

from registry import BlobStore, S3BlobStore
from runtime.errors import ArtifactNotFound, IntegrityError, PayloadTooLarge, RegistryUnavailable
from tests.registry.test_blobs import Exploding


@pytest.fixture
def store(s3_server, tmp_path, monkeypatch):
    for key, value in s3_server.env.items():
        monkeypatch.setenv(key, value)
    return S3BlobStore(s3_server.store_url(), tmp_path / "staging", presign_expires_s=60)


def test_store_implements_the_protocol(store):
    assert isinstance(store, BlobStore)


def test_put_stores_under_the_content_address_in_parts(store, s3_server):
    data = bytes(range(256)) * 40_000  # 10 MB: two parts of a multipart upload
    blob = store.put(io.BytesIO(data))
    sha = hashlib.sha256(data).hexdigest()
    assert (blob.sha256, blob.size) == (sha, len(data))
    assert s3_server.keys(store.prefix) == [f"{store.prefix}sha256/{sha[:2]}/{sha[2:]}"]
    assert store.exists(sha) and store.size(sha) == len(data)
    with store.open(sha) as fh:
        assert fh.read() == data
        fh.seek(len(data) - 5)
        assert fh.read() == data[-5:]
    assert store.put(io.BytesIO(data)) == blob  # stored once
    assert len(s3_server.keys(store.prefix)) == 1
    assert list(store._staging.folder.iterdir()) == []


def test_missing_and_invalid_blobs(store, tmp_path):
    with pytest.raises(ArtifactNotFound, match="missing"):
        store.open("0" * 64)
    with pytest.raises(ArtifactNotFound, match="64 hex"):
        store.exists("../../etc/passwd")
    assert not store.exists("0" * 64)


def test_bytes_that_change_after_staging_are_never_committed(store, s3_server):
    """The sha256 is checked again while sending; a mismatch aborts every part."""
    with store.staging(io.BytesIO(b"a" * 6_000_000)) as staged:
        staged.path.write_bytes(b"b" * 6_000_000)  # the staged file changes under us
        with pytest.raises(IntegrityError, match="aborted"):
            staged.commit()
    assert s3_server.keys(store.prefix) == []
    assert s3_server.uploads(store.prefix) == []


def test_an_interrupted_upload_leaves_nothing(store, s3_server):
    with pytest.raises(ConnectionResetError):
        store.put(Exploding())
    with pytest.raises(PayloadTooLarge):
        store.put(io.BytesIO(b"x" * 100), limit=10)
    assert s3_server.keys(store.prefix) == []
    assert list(store._staging.folder.iterdir()) == []


def test_incomplete_uploads_of_killed_processes_are_aborted(store, s3_server):
    key = f"{store.prefix}sha256/ab/{'c' * 62}"
    upload = store.client.create_multipart_upload(Bucket=store.bucket, Key=key)["UploadId"]
    store.client.upload_part(
        Bucket=store.bucket, Key=key, UploadId=upload, PartNumber=1, Body=b"x" * 100
    )
    assert store.reclaim_uploads(timedelta(hours=1)) == []  # young: maybe still running
    assert s3_server.uploads(store.prefix) == [key]
    assert store.reclaim_uploads(timedelta(seconds=0)) == [key]
    assert s3_server.uploads(store.prefix) == []


def test_presigned_url_serves_the_bytes_and_nothing_else(store):
    blob = store.put(io.BytesIO(b"weights"))
    url = store.presign(blob.sha256, filename="m-1.onnx", media_type="application/onnx")
    assert url is not None
    resp = httpx.get(url)
    assert resp.status_code == 200 and resp.content == b"weights"
    assert resp.headers["content-type"] == "application/onnx"
    assert "m-1.onnx" in resp.headers["content-disposition"]
    assert httpx.get(url.replace("X-Amz-Signature=", "X-Amz-Signature=0")).status_code == 403
    assert httpx.get(url, headers={"Range": "bytes=2-4"}).content == b"igh"


def test_presigned_url_expires(store):
    store.presign_expires_s = 1
    blob = store.put(io.BytesIO(b"short-lived"))
    url = store.presign(blob.sha256, filename="x", media_type="application/octet-stream")
    time.sleep(2.5)
    assert httpx.get(url).status_code == 403


def test_check_writable_fails_with_wrong_credentials(s3_server, tmp_path, monkeypatch):
    for key, value in s3_server.env.items():
        monkeypatch.setenv(key, value)
    S3BlobStore(s3_server.store_url(), tmp_path / "ok").check_writable()
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret-key-at-all")
    with pytest.raises(Exception, match="SignatureDoesNotMatch|AccessDenied|Forbidden"):
        S3BlobStore(s3_server.store_url(), tmp_path / "bad").check_writable()


def test_a_failing_store_is_unavailable_not_an_internal_error(s3_server, tmp_path, monkeypatch):
    """Refused writes (here: wrong credentials) surface as RegistryUnavailable (a 503)."""
    for key, value in s3_server.env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret-key-at-all")
    store = S3BlobStore(s3_server.store_url(), tmp_path / "staging")
    with pytest.raises(RegistryUnavailable, match="try again later"):
        store.put(io.BytesIO(b"bytes"))
    with pytest.raises(RegistryUnavailable):
        store.exists("0" * 64)
    assert s3_server.keys(store.prefix) == []
    assert list(store._staging.folder.iterdir()) == []

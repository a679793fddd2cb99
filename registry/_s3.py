"""An S3 blob store (any S3-compatible server): ``s3://bucket/prefix/sha256/ab/cdef…``.

Uploads are staged in a local, locked staging file while hashed (the registry sniffs
the framework from it), then sent to the content address as a multipart upload that
hashes the bytes again as they go: the upload is completed only when that sha256
matches, and aborted on any error, so the content address never holds other bytes
and an interrupted upload leaves no object. A process killed mid-upload leaves an
incomplete multipart upload that lists no object; ``reclaim_uploads`` (run when the
store opens) aborts those older than the staging age.

Endpoint, region and credentials come the standard way (``AWS_ENDPOINT_URL``,
``AWS_REGION`` or ``AWS_DEFAULT_REGION``, ``AWS_ACCESS_KEY_ID`` /
``AWS_SECRET_ACCESS_KEY``, profiles, instance roles), read by boto3.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import quote, urlsplit

from registry._blobs import STAGING_MAX_AGE_S, Blob, StagedBlob, Staging, check_blob_id
from runtime.errors import ArtifactNotFound, IntegrityError, RegistryUnavailable

__all__ = ["S3BlobStore", "parse_s3_url"]

log = logging.getLogger("modelport.registry")

PART_SIZE = 8 * 1024 * 1024  # S3 parts are >= 5 MiB except the last


def parse_s3_url(url: str) -> tuple[str, str]:
    """``s3://bucket/some/prefix`` -> ("bucket", "some/prefix/") (prefix may be "")."""
    parts = urlsplit(url)
    if parts.scheme != "s3" or not parts.netloc:
        raise ValueError(f"MODELPORT_STORE={url!r} is not an s3://bucket/prefix URL")
    prefix = parts.path.strip("/")
    return parts.netloc, f"{prefix}/" if prefix else ""


class S3BlobStore:
    """Blobs in an S3 bucket under ``prefix``, staged through ``staging_dir``.

    >>> store = S3BlobStore("s3://models/prod", Path("/var/tmp/mp"))   # doctest: +SKIP
    >>> store.put(io.BytesIO(b"hi")).sha256[:8]                        # doctest: +SKIP
    '8f434346'
    """

    def __init__(
        self,
        url: str,
        staging_dir: Path,
        *,
        presign_expires_s: int = 300,
        addressing_style: str = "auto",
        staging_max_age_s: float = STAGING_MAX_AGE_S,
        client: Any = None,
    ) -> None:
        self.url = url
        self.bucket, self.prefix = parse_s3_url(url)
        self.presign_expires_s = presign_expires_s
        self.client = client if client is not None else _client(addressing_style)
        self._staging = Staging(Path(staging_dir), staging_max_age_s)
        try:
            self.reclaim_uploads(timedelta(seconds=staging_max_age_s))
        except RegistryUnavailable as exc:  # /readyz reports a store that is down
            log.warning("could not reclaim incomplete uploads: %s", exc)

    def key(self, sha256: str) -> str:
        check_blob_id(sha256)
        return f"{self.prefix}sha256/{sha256[:2]}/{sha256[2:]}"

    # -- writes ------------------------------------------------------------------------

    @contextmanager
    def staging(self, stream: BinaryIO, *, limit: int | None = None) -> Iterator[StagedBlob]:
        with self._staging.write(stream, limit=limit) as (path, sha, size):
            yield StagedBlob(path, sha, size, self._publish)

    def put(self, stream: BinaryIO, *, limit: int | None = None) -> Blob:
        with self.staging(stream, limit=limit) as staged:
            return staged.commit()

    def put_file(self, path: Path) -> Blob:
        with path.open("rb") as fh:
            return self.put(fh)

    @contextmanager
    def _failures(self, doing: str) -> Iterator[None]:
        """A store that fails (down, refusing, out of space) is a 503 for the caller."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            yield
        except (ClientError, BotoCoreError) as exc:
            raise RegistryUnavailable(
                f"the object store {self.url} failed while {doing}: {exc}; try again later"
            ) from exc

    def _publish(self, staged: Path, sha256: str) -> None:
        with self._failures("storing a blob"):
            self._upload(staged, sha256)

    def _upload(self, staged: Path, sha256: str) -> None:
        if self.exists(sha256):
            return
        key = self.key(sha256)
        upload = self.client.create_multipart_upload(
            Bucket=self.bucket,
            Key=key,
            ContentType="application/octet-stream",
            Metadata={"sha256": sha256},
        )["UploadId"]
        try:
            parts = self._send_parts(staged, key, upload, sha256)
            self.client.complete_multipart_upload(
                Bucket=self.bucket, Key=key, UploadId=upload, MultipartUpload={"Parts": parts}
            )
        except BaseException:
            try:
                self.client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload)
            except Exception as exc:  # noqa: BLE001 - the first error is the one to report
                log.warning("could not abort the upload of %s (reclaimed later): %s", key, exc)
            raise

    def _send_parts(self, staged: Path, key: str, upload: str, sha256: str) -> list[dict[str, Any]]:
        digest = hashlib.sha256()
        parts: list[dict[str, Any]] = []
        with staged.open("rb") as fh:
            while True:
                body = fh.read(PART_SIZE)
                if not body and parts:
                    break
                digest.update(body)
                number = len(parts) + 1
                etag = self.client.upload_part(
                    Bucket=self.bucket, Key=key, UploadId=upload, PartNumber=number, Body=body
                )["ETag"]
                parts.append({"PartNumber": number, "ETag": etag})
                if len(body) < PART_SIZE:
                    break
        if digest.hexdigest() != sha256:
            raise IntegrityError(
                f"the staged upload hashed to {sha256} but {digest.hexdigest()} was read "
                "back while sending it; the upload was aborted, send the file again"
            )
        return parts

    def reclaim_uploads(self, older_than: timedelta) -> list[str]:
        """Abort incomplete multipart uploads under the prefix started before ``older_than``."""
        with self._failures("listing incomplete uploads"):
            return self._abort_older(datetime.now(UTC) - older_than)

    def _abort_older(self, cutoff: datetime) -> list[str]:
        aborted = []
        listing = self.client.get_paginator("list_multipart_uploads")
        for page in listing.paginate(Bucket=self.bucket, Prefix=f"{self.prefix}sha256/"):
            for upload in page.get("Uploads", []):
                if upload["Initiated"] < cutoff:
                    self.client.abort_multipart_upload(
                        Bucket=self.bucket, Key=upload["Key"], UploadId=upload["UploadId"]
                    )
                    aborted.append(upload["Key"])
        return aborted

    def reclaim_staging(self) -> list[Path]:
        return self._staging.reclaim()

    # -- reads -------------------------------------------------------------------------

    def _head(self, sha256: str) -> dict[str, Any] | None:
        from botocore.exceptions import ClientError

        key = self.key(sha256)
        with self._failures("looking up a blob"):
            try:
                head: dict[str, Any] = self.client.head_object(Bucket=self.bucket, Key=key)
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                    return None
                raise
        return head

    def exists(self, sha256: str) -> bool:
        return self._head(sha256) is not None

    def size(self, sha256: str) -> int:
        head = self._head(sha256)
        if head is None:
            raise self._missing(sha256)
        return int(head["ContentLength"])

    def open(self, sha256: str) -> BinaryIO:
        return io.BufferedReader(_ObjectReader(self, sha256, self.size(sha256)), 1 << 20)

    def copy_to(self, sha256: str, dest: Path) -> None:
        with self.open(sha256) as src, dest.open("wb") as out:
            while chunk := src.read(1 << 20):
                out.write(chunk)

    def presign(self, sha256: str, *, filename: str, media_type: str) -> str | None:
        url: str = self.client.generate_presigned_url(
            "get_object",
            Params={
                "Bucket": self.bucket,
                "Key": self.key(sha256),
                "ResponseContentType": media_type,
                "ResponseContentDisposition": f"attachment; filename*=UTF-8''{quote(filename)}",
            },
            ExpiresIn=self.presign_expires_s,
        )
        return url

    def check_writable(self) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        key = f"{self.prefix}probe/{os.uname().nodename}-{os.getpid()}"
        try:
            self.client.put_object(Bucket=self.bucket, Key=key, Body=b"")
            self.client.delete_object(Bucket=self.bucket, Key=key)
        except (ClientError, BotoCoreError) as exc:
            raise OSError(f"S3 store {self.url} cannot take writes: {exc}") from exc

    def _missing(self, sha256: str) -> ArtifactNotFound:
        return ArtifactNotFound(
            f"blob {sha256} is missing from the store at {self.url}; the bucket may be incomplete"
        )


class _ObjectReader(io.RawIOBase):
    """A seekable reader of one object: each (re)positioned read is one ranged GET."""

    def __init__(self, store: S3BlobStore, sha256: str, size: int) -> None:
        self._store = store
        self._sha256 = sha256
        self._size = size
        self._pos = 0
        self._body: Any = None

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        if base + offset != self._pos:
            self._drop()
            self._pos = base + offset
        return self._pos

    def readinto(self, buf: Any) -> int:
        if self._pos >= self._size:
            return 0
        store = self._store
        with store._failures("reading a blob"):
            if self._body is None:
                self._body = store.client.get_object(
                    Bucket=store.bucket, Key=store.key(self._sha256), Range=f"bytes={self._pos}-"
                )["Body"]
            data = self._body.read(len(buf))
        buf[: len(data)] = data
        self._pos += len(data)
        return len(data)

    def _drop(self) -> None:
        if self._body is not None:
            self._body.close()
            self._body = None

    def close(self) -> None:
        self._drop()
        super().close()


def _client(addressing_style: str) -> Any:
    import boto3
    from botocore.config import Config

    if addressing_style == "auto":  # S3-compatible servers on a host name want path style
        addressing_style = "path" if os.environ.get("AWS_ENDPOINT_URL") else "virtual"
    config = Config(
        signature_version="s3v4",
        s3={"addressing_style": addressing_style},
        retries={"mode": "standard", "max_attempts": 5},
    )
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    # a session of its own: boto3's default session keeps the first credentials it saw
    return boto3.session.Session().client("s3", region_name=region, config=config)

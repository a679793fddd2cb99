"""Behaviour that needs its own server: concurrency, restarts, upload limits."""

from __future__ import annotations

import contextlib
import hashlib
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.api.conftest import assert_problem, upload, wait_done
from tests.conftest import start_registry, stop_registry


def big_onnx(path: Path, size: int) -> Path:
    """A valid ONNX model carrying ``size`` bytes of weights (accepted as an upload)."""
    import onnx
    from onnx import TensorProto, helper

    weights = TensorProto(name="w", data_type=TensorProto.UINT8, dims=[size])
    weights.raw_data = os.urandom(size)
    out = helper.make_tensor_value_info("y", TensorProto.INT64, [1])
    graph = helper.make_graph(
        [helper.make_node("Shape", ["w"], ["y"])], "big", [], [out], initializer=[weights]
    )
    onnx.save(helper.make_model(graph), path)
    return path


def _blob_files(data_dir: Path) -> list[Path]:
    return [p for p in (data_dir / "blobs").rglob("*") if p.is_file()]


def test_32_concurrent_uploads_get_versions_1_to_32(database_url, tmp_path, onnx_file):
    reg = start_registry(tmp_path / "data", database_url, {"MODELPORT_WORKER_CONCURRENCY": "0"})
    try:
        with httpx.Client(base_url=reg.url, timeout=120) as client:

            def one(_: int) -> httpx.Response:
                return upload(client, "race", onnx_file)

            with ThreadPoolExecutor(max_workers=32) as pool:
                responses = list(pool.map(one, range(32)))
            assert [r.status_code for r in responses] == [202] * 32, [r.text for r in responses]
            assert sorted(r.json()["version"] for r in responses) == list(range(1, 33))
            assert len({r.json()["job_id"] for r in responses}) == 32
            model = client.get("/api/v1/models/race").json()
            assert (model["latest_version"], model["version_count"]) == (32, 32)
    finally:
        stop_registry(reg)


@pytest.mark.slow
def test_queued_and_running_jobs_survive_a_restart(database_url, tmp_path, onnx_file):
    data = tmp_path / "data"
    slow = tmp_path / "slow-python"
    slow.write_text("#!/bin/sh\nsleep 60\n")
    slow.chmod(0o755)
    reg = start_registry(data, database_url, {"MODELPORT_WORKER_PYTHON": str(slow)})
    try:
        with reg.client() as client:
            first = upload(client, "durable", onnx_file).json()
            second = upload(client, "durable", onnx_file).json()
            deadline = time.monotonic() + 30
            while client.get(f"/api/v1/jobs/{first['job_id']}").json()["status"] != "running":
                assert time.monotonic() < deadline, "job never started"
                time.sleep(0.05)
            assert client.get(f"/api/v1/jobs/{second['job_id']}").json()["status"] == "queued"
    finally:
        stop_registry(reg)  # mid-queue: one job running, one queued

    reg = start_registry(data, database_url)
    try:
        with reg.client() as client:
            for n, accepted in ((1, first), (2, second)):
                assert wait_done(client, "durable", n)["status"] == "ready"
                job = client.get(f"/api/v1/jobs/{accepted['job_id']}").json()
                assert job["status"] == "succeeded"
    finally:
        stop_registry(reg)


@pytest.fixture(scope="module")
def small_limit_registry(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("limit")
    reg = start_registry(
        tmp / "data",
        f"sqlite:///{tmp / 'registry.db'}",
        {"MODELPORT_MAX_UPLOAD_BYTES": "4096", "MODELPORT_WORKER_CONCURRENCY": "0"},
    )
    yield reg
    stop_registry(reg)


def test_upload_over_the_limit_is_413_and_leaves_nothing(small_limit_registry, tmp_path):
    big = tmp_path / "big.onnx"
    big.write_bytes(b"\0" * 5000)
    with small_limit_registry.client() as client:
        body = assert_problem(upload(client, "too-big", big), 413, "PayloadTooLarge")
        assert "MODELPORT_MAX_UPLOAD_BYTES" in body["detail"]
        assert client.get("/api/v1/models/too-big").status_code == 404
    assert list((small_limit_registry.data_dir / "blobs" / "tmp").iterdir()) == []
    too_big = hashlib.sha256(big.read_bytes()).hexdigest()
    assert too_big not in {
        p.parent.name + p.name for p in _blob_files(small_limit_registry.data_dir)
    }


def test_declared_length_far_over_the_limit_is_refused_before_reading(small_limit_registry):
    body = b"x" * (3 * 1024 * 1024)
    with small_limit_registry.client() as client:
        resp = client.post(
            "/api/v1/models/huge/versions",
            content=body,
            headers={"content-type": "multipart/form-data; boundary=zzz"},
        )
    assert_problem(resp, 413, "PayloadTooLarge")


def test_upload_within_the_limit_is_accepted(small_limit_registry, onnx_file):
    with small_limit_registry.client() as client:
        resp = upload(client, "fits", onnx_file)
    assert resp.status_code == 202, resp.text


@pytest.mark.slow
def test_job_of_a_killed_server_is_requeued_after_its_lease(tmp_path, onnx_file):
    data = tmp_path / "data"
    url = f"sqlite:///{tmp_path / 'registry.db'}"
    slow = tmp_path / "slow-python"
    slow.write_text("#!/bin/sh\nsleep 60\n")
    slow.chmod(0o755)
    lease = {"MODELPORT_JOB_LEASE_S": "2"}
    reg = start_registry(data, url, {"MODELPORT_WORKER_PYTHON": str(slow), **lease})
    try:
        with reg.client() as client:
            accepted = upload(client, "crashy", onnx_file).json()
            deadline = time.monotonic() + 30
            while client.get(f"/api/v1/jobs/{accepted['job_id']}").json()["status"] != "running":
                assert time.monotonic() < deadline, "job never started"
                time.sleep(0.05)
    finally:
        reg.process.kill()  # no graceful shutdown: the job stays 'running'
        reg.process.wait()

    reg = start_registry(data, url, lease)
    try:
        with reg.client() as client:
            assert wait_done(client, "crashy", 1)["status"] == "ready"
            job = client.get(f"/api/v1/jobs/{accepted['job_id']}").json()
            assert (job["status"], job["attempts"]) == ("succeeded", 2)
    finally:
        stop_registry(reg)


def test_chunked_body_over_the_limit_is_cut_off_with_413(small_limit_registry):
    def chunks():
        head = (
            b'--zzz\r\nContent-Disposition: form-data; name="file"; filename="m.onnx"\r\n'
            b"Content-Type: application/octet-stream\r\n\r\n"
        )
        yield head
        for _ in range(40):  # 2.5 MiB, never announced in a Content-Length
            yield b"\0" * 65536

    with small_limit_registry.client() as client:
        resp = client.post(
            "/api/v1/models/chunked/versions",
            content=chunks(),
            headers={"content-type": "multipart/form-data; boundary=zzz"},
        )
        assert_problem(resp, 413, "PayloadTooLarge")
        assert client.get("/api/v1/models/chunked").status_code == 404
    assert list((small_limit_registry.data_dir / "blobs" / "tmp").iterdir()) == []


@pytest.mark.slow
def test_staging_files_of_a_killed_server_are_reclaimed_on_start(tmp_path):
    """kill -9 while an upload is being staged; the next start removes what it left."""
    import os
    import signal
    import threading

    data = tmp_path / "data"
    big = tmp_path / "big.onnx"
    with big.open("wb") as fh:
        fh.truncate(400 * 1024 * 1024)
    staging = data / "blobs" / "tmp"
    leftovers: list[Path] = []
    for _attempt in range(3):
        reg = start_registry(data, f"sqlite:///{tmp_path / 'r.db'}")

        def send(url: str = reg.url) -> None:
            with (
                big.open("rb") as fh,
                httpx.Client(base_url=url, timeout=120) as client,
                contextlib.suppress(httpx.HTTPError),  # the server dies under it
            ):
                client.post("/api/v1/models/big/versions", files={"file": ("m.onnx", fh)})

        sender = threading.Thread(target=send)
        sender.start()
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and sender.is_alive():
            leftovers = list(staging.glob("upload-*"))
            if leftovers:
                os.kill(reg.process.pid, signal.SIGKILL)
                break
            time.sleep(0.002)
        reg.process.wait()
        sender.join()
        if leftovers:
            break
    assert leftovers, "never caught the server while it staged the upload"
    assert all(p.exists() for p in leftovers)  # the kill left them behind
    reg = start_registry(data, f"sqlite:///{tmp_path / 'r.db'}")
    try:
        assert list(staging.iterdir()) == []
    finally:
        stop_registry(reg)


@pytest.mark.slow
def test_s3_upload_of_a_killed_server_leaves_no_blob_and_its_parts_are_aborted(
    tmp_path, s3_server
):
    """kill -9 while the multipart upload to S3 runs: no object under the content
    address, and the next start aborts the incomplete upload (past the staging age)."""
    import os
    import signal
    import threading

    store = s3_server.store_url()
    prefix = store.split("/", 3)[3] + "/"
    env = {"MODELPORT_STORE": store, "MODELPORT_STAGING_MAX_AGE_S": "3", **s3_server.env}
    big = big_onnx(tmp_path / "big.onnx", 96 * 1024 * 1024)  # 12 parts
    db = f"sqlite:///{tmp_path / 'r.db'}"
    reg = start_registry(tmp_path / "data", db, env)

    def send() -> None:
        with (
            big.open("rb") as fh,
            httpx.Client(base_url=reg.url, timeout=300) as client,
            contextlib.suppress(httpx.HTTPError),  # the server dies under it
        ):
            client.post("/api/v1/models/big/versions", files={"file": ("m.onnx", fh)})

    sender = threading.Thread(target=send)
    sender.start()
    deadline = time.monotonic() + 180
    caught = []
    while time.monotonic() < deadline and sender.is_alive() and not caught:
        caught = s3_server.uploads(prefix)
        time.sleep(0.05)
    os.kill(reg.process.pid, signal.SIGKILL)
    reg.process.wait()
    sender.join()
    assert caught, "never caught the server while it sent the parts"
    assert s3_server.keys(prefix) == []  # nothing committed
    assert s3_server.uploads(prefix) == caught  # the parts are still there...
    time.sleep(3)
    reg = start_registry(tmp_path / "data", db, env)
    try:
        assert s3_server.uploads(prefix) == []  # ...until the next start aborts them
        assert [p for p in (tmp_path / "data" / "staging").iterdir()] == []
        assert [k for k in s3_server.keys(prefix) if "/sha256/" in k] == []
    finally:
        stop_registry(reg)

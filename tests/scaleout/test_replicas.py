"""Several `modelport serve` replicas on one PostgreSQL and one S3 store behind a
real nginx: the end-to-end flow through the balancer, a replica killed mid-run, and
replicas that start (and migrate) together."""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests import test_end_to_end as end_to_end
from tests.api.conftest import upload, wait_done
from tests.conftest import LiveRegistry, start_registry, stop_registry
from tests.factories.onnx_models import linear_model
from tests.scaleout._services import Nginx

pytestmark = pytest.mark.slow

ENV = {"MODELPORT_JOB_LEASE_S": "3", "MODELPORT_LOG_FORMAT": "json"}


def _replicas(site, n: int) -> list[LiveRegistry]:
    """Start ``n`` replicas at the same moment (each migrates on start)."""
    env = {**ENV, **site.env}
    with ThreadPoolExecutor(n) as pool:
        futures = [
            pool.submit(start_registry, site.data_dir(f"r{i}"), site.database_url, env)
            for i in range(n)
        ]
        return [f.result() for f in futures]


def _balancer(prefix: Path, replicas: list[LiveRegistry]) -> Nginx:
    nginx = Nginx(prefix, [r.url.removeprefix("http://") for r in replicas])
    nginx.start()
    return nginx


def _upgrades(replicas: list[LiveRegistry]) -> list[str]:
    lines = []
    for r in replicas:
        for line in r.log().splitlines():
            if line.startswith("{") and "Running upgrade" in json.loads(line)["message"]:
                lines.append(json.loads(line)["message"])
    return lines


def test_end_to_end_through_nginx_with_replicas_that_migrated_once(
    site, nginx_prefix, unique_name, tmp_path
):
    replicas = _replicas(site, 3)
    nginx = _balancer(nginx_prefix, replicas)
    try:
        upgrades = _upgrades(replicas)
        assert upgrades, "no replica logged a migration"
        assert len(upgrades) == len(set(upgrades)), upgrades  # each step ran once
        through = LiveRegistry(
            nginx.url, site.tmp, site.database_url, nginx.process, nginx.prefix / "access.log"
        )
        with through.client() as client:
            end_to_end.test_push_then_runtime_load_matches_raw_onnxruntime(
                through, client, unique_name, tmp_path
            )
            served_by = {client.get("/readyz").headers.get("x-request-id") for _ in range(6)}
        assert len(served_by) == 6
    finally:
        nginx.stop()
        for r in replicas:
            stop_registry(r)


def _retry_5xx(client: httpx.Client, send, errors: list[str]) -> httpx.Response:
    """Send; a 5xx, or an answer cut off by the kill (nginx had already passed on the
    killed replica's headers, so it cannot send the request elsewhere), is noted and sent
    once more, and the retry must succeed."""
    try:
        resp = send(client)
    except httpx.TransportError as exc:
        errors.append(f"cut off: {type(exc).__name__}: {exc}")
    else:
        if resp.status_code < 500:
            return resp
        errors.append(f"{resp.request.method} {resp.request.url.path} {resp.status_code}")
    resp = send(client)
    assert resp.status_code < 500, (resp.status_code, resp.text)
    return resp


def test_a_replica_killed_mid_run_loses_no_version(site, nginx_prefix, tmp_path):
    replicas = _replicas(site, 2)
    nginx = _balancer(nginx_prefix, replicas)
    model = linear_model(tmp_path / "lin.onnx")
    accepted: list[int] = []
    upload_errors: list[str] = []
    read_errors: list[str] = []
    stop = threading.Event()

    def uploader() -> None:
        with httpx.Client(base_url=nginx.url, timeout=60) as client:
            while not stop.is_set():
                resp = _retry_5xx(
                    client, lambda c: upload(c, "churn", model, targets="onnx"), upload_errors
                )
                assert resp.status_code == 202, resp.text
                accepted.append(resp.json()["version"])
                stop.wait(1.5)  # a few versions, so their conversions stay short

    def reader() -> None:
        with httpx.Client(base_url=nginx.url, timeout=60) as client:
            while not stop.is_set():
                resp = _retry_5xx(client, lambda c: c.get("/api/v1/models?limit=5"), read_errors)
                assert resp.status_code == 200, resp.text

    try:
        with ThreadPoolExecutor(4) as pool:
            futures = [
                pool.submit(uploader),
                pool.submit(uploader),
                pool.submit(reader),
                pool.submit(reader),
            ]
            time.sleep(3)
            replicas[0].process.kill()  # mid-run: requests and a job may be in flight
            time.sleep(5)
            stop.set()
            for f in futures:
                f.result()
        with httpx.Client(base_url=nginx.url, timeout=60) as client:
            versions = [wait_done(client, "churn", v, timeout=120) for v in sorted(accepted)]
            listed = client.get("/api/v1/models/churn/versions?limit=200").json()["items"]
        assert len(accepted) >= 4 and len(set(accepted)) == len(accepted)
        assert [v["status"] for v in versions] == ["ready"] * len(accepted)
        # A version the killed replica committed without answering is converted too.
        assert {v["version"] for v in listed} >= set(accepted)
        assert [v["status"] for v in listed if v["status"] != "ready"] == []
        # nginx sent reads on to the live replica: no 5xx, and at most the reads whose
        # answer the kill cut off half-way (after nginx had passed on its headers)
        assert [e for e in read_errors if not e.startswith("cut off")] == [], read_errors
        assert len(read_errors) <= 2, read_errors
        assert len(upload_errors) <= 2, upload_errors  # only uploads in flight at the kill
    finally:
        stop.set()
        nginx.stop()
        for r in replicas:
            if r.process.poll() is None:
                stop_registry(r)

"""The Celery conversion tier with real processes: a RabbitMQ node of the test's own,
an API server that converts nothing (MODELPORT_WORKERS=celery) and `modelport worker`
processes, all on one PostgreSQL database and one S3 store, each with its own scratch
folder as if on its own machine."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest

from tests.api.conftest import upload, wait_done
from tests.conftest import LiveRegistry, free_port, start_registry, stop_registry
from tests.factories.onnx_models import linear_model
from tests.scaleout._services import RabbitNode, Worker, start_worker, worker_env

pytestmark = pytest.mark.slow

LEASE = {"MODELPORT_JOB_LEASE_S": "3"}


def _api(site, rabbit: RabbitNode) -> LiveRegistry:
    env = worker_env(site.data_dir("api"), site.database_url, rabbit.url, **LEASE, **site.env)
    env = {k: v for k, v in env.items() if k.startswith(("MODELPORT_", "AWS_"))}
    return start_registry(site.data_dir("api"), site.database_url, env)


def _worker(
    site, rabbit: RabbitNode, name: str, queues: str = "", metrics_port: int | None = None
) -> Worker:
    data = site.data_dir(name)
    env = worker_env(data, site.database_url, rabbit.url, **LEASE, **site.env)
    return start_worker(site.tmp / f"worker-{name}.log", env, queues, metrics_port=metrics_port)


def _started(worker: Worker, job_id: str) -> list[int]:
    """Attempts of ``job_id`` this worker started, from its JSON log lines."""
    attempts = []
    for line in worker.log().splitlines():
        if not line.startswith("{"):
            continue
        record = json.loads(line)
        if record.get("job_id") == job_id and record["message"].endswith("started"):
            attempts.append(int(record["message"].split()[-2]))
    return attempts


def _stop_all(api: LiveRegistry | None, workers: list[Worker]) -> None:
    for w in workers:
        w.stop()
    if api is not None:
        stop_registry(api)


def test_two_workers_each_serve_their_own_queue(site, rabbit, tmp_path: Path):
    from tests.frameworks.torch import _torchscript

    api, workers = _api(site, rabbit), []
    try:
        metrics_port = free_port()
        workers = [
            _worker(site, rabbit, "sklearn", "sklearn", metrics_port),
            _worker(site, rabbit, "torch", "torch"),
        ]
        with api.client() as client:
            model = linear_model(tmp_path / "lin.onnx").read_bytes()
            onnx = client.post(
                "/api/v1/models/lin/versions",
                files={"file": ("lin.onnx", model)},
                data={"targets": "onnx"},
                headers={"X-Request-ID": "upload-lin-1"},
            )
            torch = upload(client, "mlp", _torchscript("mlp")(tmp_path), targets="onnx")
            assert onnx.status_code == torch.status_code == 202, (onnx.text, torch.text)
            assert wait_done(client, "lin", 1, timeout=120)["status"] == "ready"
            assert wait_done(client, "mlp", 1, timeout=240)["status"] == "ready"
        sk, pt = workers
        onnx_job, torch_job = onnx.json()["job_id"], torch.json()["job_id"]
        assert _started(sk, onnx_job) == [1] and _started(sk, torch_job) == []
        assert _started(pt, torch_job) == [1] and _started(pt, onnx_job) == []
        # The upload's request id follows its job into the worker's JSON log lines.
        assert onnx.headers["x-request-id"] == "upload-lin-1"
        records = [json.loads(line) for line in sk.log().splitlines() if line.startswith("{")]
        about_job = [r for r in records if r.get("job_id") == onnx_job]
        assert about_job and {r["request_id"] for r in about_job} == {"upload-lin-1"}
        # The worker that converted counts the conversion on its own metrics port.
        scraped = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics").text
        assert (
            'modelport_conversions_total{framework="onnx",outcome="passed",target="onnx"} 1.0'
            in scraped
        )
        # The API converted nothing itself.
        assert "attempt 1 started" not in api.log()
    finally:
        _stop_all(api, workers)


def _sklearn_upload(client: httpx.Client, name: str, folder: Path) -> httpx.Response:
    from tests.frameworks.sklearn import _ridge

    resp = upload(client, name, _ridge(folder), targets="onnx,pmml")
    assert resp.status_code == 202, resp.text
    return resp


def test_a_worker_killed_mid_conversion_leaves_the_job_to_the_other(site, rabbit, tmp_path):
    api, workers = _api(site, rabbit), []
    try:
        workers = [_worker(site, rabbit, "a", "sklearn"), _worker(site, rabbit, "b", "sklearn")]
        with api.client() as client:
            job_id = _sklearn_upload(client, "logreg", tmp_path).json()["job_id"]
            deadline = time.monotonic() + 60
            victim = None
            while victim is None and time.monotonic() < deadline:
                victim = next((w for w in workers if _started(w, job_id)), None)
                time.sleep(0.05)
            assert victim is not None, "no worker started the job"
            assert client.get(f"/api/v1/jobs/{job_id}").json()["status"] == "running"
            victim.kill()  # SIGKILL: no cleanup, the message is unacknowledged
            survivor = next(w for w in workers if w is not victim)
            version = wait_done(client, "logreg", 1, timeout=180)
            job = client.get(f"/api/v1/jobs/{job_id}").json()
        assert version["status"] == "ready", version
        assert job["status"] == "succeeded" and job["attempts"] == 2, job
        assert _started(survivor, job_id) == [2]
        formats = [a["format"] for a in version["artifacts"]]
        assert sorted(formats) == ["onnx", "pmml", "source"], formats
        statuses = {a["format"]: (a["status"], a["error"]) for a in version["artifacts"]}
        assert all(s in ("passed", "weak", "stored") for s, _ in statuses.values()), statuses
    finally:
        _stop_all(api, workers)


def test_uploads_during_a_broker_outage_are_accepted_and_converted(site, rabbit, tmp_path):
    api, workers = _api(site, rabbit), []
    try:
        workers = [_worker(site, rabbit, "all")]
        model = linear_model(tmp_path / "lin.onnx")
        with api.client() as client:
            assert upload(client, "outage", model, targets="onnx").status_code == 202
            rabbit.stop()
            down_at = time.monotonic()
            during = [upload(client, "outage", model, targets="onnx") for _ in range(3)]
            assert [r.status_code for r in during] == [202] * 3, [r.text for r in during]
            time.sleep(max(0.0, 10 - (time.monotonic() - down_at)))
            rabbit.start()
            assert upload(client, "outage", model, targets="onnx").status_code == 202
            versions = [wait_done(client, "outage", v, timeout=180) for v in range(1, 6)]
            listed = client.get("/api/v1/models/outage/versions?limit=50").json()["items"]
        assert [v["status"] for v in versions] == ["ready"] * 5
        assert [v["status"] for v in listed if v["status"] != "ready"] == []
    finally:
        if rabbit.process is None:
            rabbit.start()
        _stop_all(api, workers)

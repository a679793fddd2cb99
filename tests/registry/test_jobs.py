"""The job runner with the real conversion worker in a separate process."""

from __future__ import annotations

import io
import stat
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import onnx
import pytest
from onnx import TensorProto, helper
from sqlalchemy import update

from converters import ArtifactResult
from registry import JobRunner
from registry._orm import JobRow, utcnow
from runtime import ModelRef
from tests.factories.onnx_models import linear_model
from tests.registry.conftest import make_registry


def push(registry, name, data, filename="m.onnx", **kw):
    return registry.create_version(name, io.BytesIO(data), filename, **kw)


def broken_onnx(path: Path) -> Path:
    """Parses as an ONNX model with a graph, but uses an operator that does not exist."""
    graph = helper.make_graph(
        [helper.make_node("NoSuchOperator", ["x"], ["y"])],
        "broken",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 2])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.save(model, str(path))
    return path


def fake_python(tmp_path: Path, body: str) -> str:
    script = tmp_path / "python-wrapper"
    script.write_text(f"#!/bin/sh\n{body}\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return str(script)


def test_job_converts_and_validates_an_onnx_upload(registry, tmp_path):
    created = push(registry, "lin", linear_model(tmp_path / "lin.onnx").read_bytes())
    runner = JobRunner(registry)
    assert runner.run_once() is True
    assert runner.run_once() is False
    v = registry.get_version(ModelRef("lin", version=1))
    assert v.status == "ready", v.error
    onnx_art = next(a for a in v.artifacts if a.format == "onnx")
    assert onnx_art.status == "passed" and onnx_art.sha256 == v.source.sha256
    assert v.signature is not None and v.signature.input_names == ["x"]
    job = registry.get_job(created.job_id)
    assert (job.status, job.attempts, job.error) == ("succeeded", 1, None)
    stages = {"queue_s", "prepare_s", "fork_s", "load_s", "convert_s", "validate_s"}
    assert stages | {"onnx_convert_s", "onnx_validate_s", "worker_s", "store_s"} == set(job.timings)
    assert all(v >= 0 for v in job.timings.values())
    assert job.started_at <= job.finished_at
    assert list(registry.settings.jobs_dir.iterdir()) == []  # the job folder is removed


def test_failed_deep_check_leaves_a_failed_version_with_the_reason(registry, tmp_path):
    created = push(registry, "bad", broken_onnx(tmp_path / "bad.onnx").read_bytes())
    JobRunner(registry).run_once()
    v = registry.get_version(ModelRef("bad", version=1))
    assert v.status == "failed"
    assert "NoSuchOperator" in v.error
    assert registry.get_job(created.job_id).status == "failed"
    assert not [a for a in v.artifacts if a.status in ("passed", "weak")]


def test_crashing_worker_is_retried_once_then_fails(database_url, tmp_path):
    reg = make_registry(
        database_url,
        tmp_path / "data",
        worker_python=fake_python(tmp_path, "exit 3"),
        fork_server=False,  # the wrapper stands in for a one-off worker interpreter
    )
    try:
        created = push(reg, "m", linear_model(tmp_path / "m.onnx").read_bytes())
        runner = JobRunner(reg)
        runner.run_once()
        job = reg.get_job(created.job_id)
        assert (job.status, job.attempts) == ("queued", 1)
        runner.run_once()
        job = reg.get_job(created.job_id)
        assert (job.status, job.attempts) == ("failed", 2)
        assert "exited with code 3" in job.error
        assert reg.get_version(ModelRef("m", version=1)).status == "failed"
    finally:
        reg.close()


def test_timeout_fails_the_job_with_the_reason(tmp_path):
    reg = make_registry(
        f"sqlite:///{tmp_path / 'r.db'}",
        tmp_path / "data",
        job_timeout_s=1,
        worker_python=fake_python(tmp_path, "sleep 30"),
        fork_server=False,
    )
    try:
        created = push(reg, "m", linear_model(tmp_path / "m.onnx").read_bytes())
        JobRunner(reg).run_once()
        job = reg.get_job(created.job_id)
        assert job.status == "failed" and "timed out after 1s" in job.error
        assert reg.get_version(ModelRef("m", version=1)).error == job.error
    finally:
        reg.close()


def test_memory_limit_stops_a_greedy_worker(tmp_path):
    greedy = f'exec {sys.executable} -c "b = bytearray(400 * 1024 * 1024)"'
    reg = make_registry(
        f"sqlite:///{tmp_path / 'r.db'}",
        tmp_path / "data",
        job_memory_mb=200,
        worker_python=fake_python(tmp_path, greedy),
        fork_server=False,
    )
    try:
        created = push(reg, "m", linear_model(tmp_path / "m.onnx").read_bytes())
        JobRunner(reg).run_once()
        job = reg.get_job(created.job_id)
        assert job.status == "failed" and "out of memory" in job.error
    finally:
        reg.close()


def test_worker_environment_has_no_modelport_variables(registry, tmp_path, monkeypatch):
    monkeypatch.setenv("MODELPORT_DATABASE_URL", "postgresql://secret@db/x")
    env = JobRunner(registry)._worker_env()
    assert not [k for k in env if k.startswith("MODELPORT_")]


def test_two_runners_never_claim_the_same_job(registry, tmp_path):
    data = linear_model(tmp_path / "m.onnx").read_bytes()
    for _ in range(12):
        push(registry, "m", data)
    claimed: list[str] = []
    lock = threading.Lock()

    def drain(runner: JobRunner) -> None:
        while (claim := runner._claim()) is not None:
            with lock:
                claimed.append(claim.job_id)

    threads = [threading.Thread(target=drain, args=(JobRunner(registry),)) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(claimed) == 12 == len(set(claimed))


def _age_heartbeat(registry, job_id, seconds):
    with registry.db.write() as s:
        s.execute(
            update(JobRow)
            .where(JobRow.id == job_id)
            .values(heartbeat_at=utcnow() - timedelta(seconds=seconds))
        )


def test_jobs_of_a_dead_runner_are_requeued_after_the_lease(registry, tmp_path):
    created = push(registry, "m", linear_model(tmp_path / "m.onnx").read_bytes())
    dead = JobRunner(registry)
    dead._claim()  # as if this process died mid-job
    assert registry.get_job(created.job_id).status == "running"
    assert registry.get_version(ModelRef("m", version=1)).status == "converting"
    other = JobRunner(registry)
    assert other.requeue_stale() == 0  # heartbeat still fresh: someone may be running it
    _age_heartbeat(registry, created.job_id, registry.settings.job_lease_s + 1)
    assert other.requeue_stale() == 1
    assert registry.get_version(ModelRef("m", version=1)).status == "pending"
    other.run_once()
    assert registry.get_version(ModelRef("m", version=1)).status == "ready"
    assert registry.get_job(created.job_id).attempts == 2


def test_a_runner_never_requeues_its_own_running_jobs(registry, tmp_path):
    created = push(registry, "m", linear_model(tmp_path / "m.onnx").read_bytes())
    runner = JobRunner(registry)
    runner._claim()
    _age_heartbeat(registry, created.job_id, 3600)
    assert runner.requeue_stale() == 0


def test_stopping_requeues_the_jobs_in_hand(registry, tmp_path):
    created = push(registry, "m", linear_model(tmp_path / "m.onnx").read_bytes())
    runner = JobRunner(registry)
    runner._claim()
    runner.stop()
    assert registry.get_job(created.job_id).status == "queued"


def test_heartbeat_is_renewed_while_the_worker_runs(tmp_path):
    reg = make_registry(
        f"sqlite:///{tmp_path / 'r.db'}",
        tmp_path / "data",
        job_lease_s=1.5,
        job_timeout_s=2,
        worker_python=fake_python(tmp_path, "sleep 30"),
        fork_server=False,
    )
    try:
        created = push(reg, "m", linear_model(tmp_path / "m.onnx").read_bytes())
        runner = JobRunner(reg)
        runner.run_once()
        with reg.db.read() as s:
            job = s.get(JobRow, created.job_id)
            assert job.heartbeat_at is not None and job.started_at is not None
            assert job.heartbeat_at > job.started_at
    finally:
        reg.close()


@pytest.mark.parametrize("bad_path", ["../../etc/passwd", "out/missing.onnx"])
def test_artifact_paths_outside_the_job_dir_are_refused(registry, tmp_path, bad_path):
    job_dir = tmp_path / "job"
    job_dir.mkdir()
    art = JobRunner(registry)._store_artifact(
        job_dir, ArtifactResult("onnx", "passed", path=bad_path)
    )
    assert art.status == "error" and art.sha256 is None


def test_directory_artifacts_are_stored_as_deterministic_tars(registry, tmp_path):
    job_dir = tmp_path / "job"
    (job_dir / "out" / "savedmodel" / "variables").mkdir(parents=True)
    (job_dir / "out" / "savedmodel" / "saved_model.pb").write_bytes(b"pb")
    (job_dir / "out" / "savedmodel" / "variables" / "v.index").write_bytes(b"ix")
    art = JobRunner(registry)._store_artifact(
        job_dir, ArtifactResult("savedmodel", "passed", path="out/savedmodel")
    )
    assert art.media_type == "application/x-tar"
    assert art.files is not None
    assert [f.path for f in art.files] == ["saved_model.pb", "variables/v.index"]
    assert registry.store.exists(art.sha256)


def test_running_job_reports_the_workers_progress(tmp_path):
    report = '{"target": "onnx", "stage": "validate", "done": 0, "total": 1}'
    reg = make_registry(
        f"sqlite:///{tmp_path / 'r.db'}",
        tmp_path / "data",
        job_timeout_s=20,
        worker_python=fake_python(tmp_path, f"echo '{report}' > progress.json; sleep 20"),
        fork_server=False,
    )
    runner = JobRunner(reg)
    try:
        created = push(reg, "m", linear_model(tmp_path / "m.onnx").read_bytes())
        thread = threading.Thread(target=runner.run_once)
        thread.start()
        deadline = time.monotonic() + 15
        while (job := reg.get_job(created.job_id)).progress is None:
            assert time.monotonic() < deadline, job
            time.sleep(0.05)
        assert job.status == "running"
        assert job.progress == {"target": "onnx", "stage": "validate", "done": 0, "total": 1}
    finally:
        runner.stop()
        thread.join()
        reg.close()
    assert reg.get_job(created.job_id).progress is None


@pytest.mark.slow
def test_java_based_pmml_conversion_runs_under_the_default_memory_limit(tmp_path):
    """The JVM reserves far more address space than it uses; the worker's memory limit
    must bound real use without stopping sklearn2pmml and pypmml from starting."""
    import numpy as np
    import skops.io as sio
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    x = rng.standard_normal((60, 3)).astype(np.float32)
    clf = LogisticRegression().fit(x, (x[:, 0] > 0).astype(int))
    path = tmp_path / "clf.skops"
    sio.dump(clf, path)
    reg = make_registry(f"sqlite:///{tmp_path / 'r.db'}", tmp_path / "data")
    try:
        assert reg.settings.job_memory_mb == 4096
        push(reg, "clf", path.read_bytes(), filename="clf.skops", targets=["pmml"])
        JobRunner(reg).run_once()
        v = reg.get_version(ModelRef("clf", version=1))
        pmml = next(a for a in v.artifacts if a.format == "pmml")
        assert pmml.status == "passed", pmml.error
    finally:
        reg.close()

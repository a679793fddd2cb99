"""One attempt of a job runs once, and only the attempt that holds the job may finish it:
the claims and fences the Celery tier relies on, against each metadata backend."""

from __future__ import annotations

import dataclasses
import io
from datetime import timedelta

from converters import REQUEST_FILE, ServerPolicy, WorkerRequest
from registry import JobRunner
from registry._job_messages import JobMessage, job_message
from registry._metadata import JobOutcome
from registry._orm import utcnow
from runtime import ModelRef
from tests.factories.onnx_models import linear_model


def _queued(registry, tmp_path, name: str = "m") -> str:
    data = linear_model(tmp_path / "lin.onnx").read_bytes()
    return registry.create_version(name, io.BytesIO(data), "lin.onnx").job_id


def _message(registry, job_id: str) -> JobMessage:
    claim = registry.metadata.next_attempt(job_id)
    assert claim is not None and claim.attempts == 1
    return job_message(claim, registry.metadata.job_input(claim), request_id="req-1")


def test_an_attempt_is_claimed_once_and_stale_messages_are_dropped(registry, tmp_path):
    job_id = _queued(registry, tmp_path)
    metadata = registry.metadata
    assert metadata.claim_attempt(job_id, 2) is None  # not the next attempt
    first = metadata.claim_attempt(job_id, 1)
    assert first is not None and first.attempts == 1
    assert metadata.claim_attempt(job_id, 1) is None  # the same message delivered again
    assert metadata.next_attempt(job_id) is None  # running: nothing to publish


def test_an_attempt_that_lost_its_lease_cannot_finish_the_job(registry, tmp_path):
    job_id = _queued(registry, tmp_path)
    metadata = registry.metadata
    lost = metadata.claim_attempt(job_id, 1)
    assert metadata.requeue_stale(utcnow() + timedelta(seconds=1), keep=[]) == 1
    soon = utcnow() + timedelta(seconds=1)
    assert metadata.unpublished_jobs(soon, soon, limit=10) == [job_id]  # the reaper sends it
    assert metadata.heartbeat(lost) is False
    assert metadata.claim_attempt(job_id, 1) is None
    second = metadata.claim_attempt(job_id, 2)
    assert second is not None
    outcome = JobOutcome([], None, {}, {"worker_s": 1.0}, error="late")
    assert metadata.record_result(lost, outcome) is False
    assert metadata.fail_job(lost, "late", {}) is False
    assert metadata.retry_job(lost, "late", {}) is False
    assert registry.get_job(job_id).status == "running"
    assert metadata.heartbeat(second) is True
    assert metadata.fail_job(second, "for real", {}) is True
    job = registry.get_job(job_id)
    assert (job.status, job.attempts, job.error) == ("failed", 2, "for real")


def test_published_jobs_wait_until_republish_time(registry, tmp_path):
    job_id = _queued(registry, tmp_path)
    metadata = registry.metadata
    now, soon = utcnow(), utcnow() + timedelta(seconds=1)
    assert metadata.unpublished_jobs(now, now - timedelta(seconds=60), limit=10) == []  # fresh
    assert metadata.unpublished_jobs(now, soon, limit=10) == [job_id]
    metadata.mark_published(job_id)
    assert metadata.unpublished_jobs(now - timedelta(seconds=60), soon, limit=10) == []
    assert metadata.unpublished_jobs(soon, soon, limit=10) == [job_id]


def test_a_forged_message_cannot_allow_pickle(registry, tmp_path):
    job_id = _queued(registry, tmp_path)
    message = _message(registry, job_id)
    request = WorkerRequest.from_dict(message.request)
    forged = dataclasses.replace(
        message,
        request=dataclasses.replace(request, policy=ServerPolicy(allow_pickle=True)).to_dict(),
    )
    claim = registry.metadata.claim_attempt(job_id, 1)
    job_dir = tmp_path / "job"
    job_dir.mkdir()
    prepared = JobRunner(registry)._prepare(claim, job_dir, forged)
    written = WorkerRequest.from_json((job_dir / REQUEST_FILE).read_text())
    assert written == prepared
    assert written.policy == ServerPolicy(allow_pickle=registry.settings.allow_pickle)
    assert registry.settings.allow_pickle is False


def test_a_message_runs_its_attempt_once(registry, tmp_path):
    job_id = _queued(registry, tmp_path)
    message = _message(registry, job_id)
    runner = JobRunner(registry)
    assert runner.run_message(message) is True
    assert runner.run_message(message) is False  # redelivered after the job finished
    job = registry.get_job(job_id)
    assert (job.status, job.attempts) == ("succeeded", 1)
    version = registry.get_version(ModelRef.parse("m:1"))
    assert [a.format for a in version.artifacts].count("onnx") == 1

"""The conversion tier on Celery: task messages over RabbitMQ, the job row as the truth.

``MODELPORT_WORKERS=celery`` makes the API publish one task message per job to the
queue of the job's framework group (see :mod:`registry._queues`); ``modelport worker``
processes consume the queues they name and run each job exactly as the inline runner
does, in an isolated child process with the same limits.

Delivery is at least once and execution is once per attempt:

- a message says "run attempt N of job J"; the worker claims the job with a
  conditional UPDATE (queued, N-1 attempts behind it), so a duplicate is dropped;
- messages are acknowledged after the job ran (``acks_late``) and given back when the
  worker process is lost (``reject_on_worker_lost``);
- results are written only while the job row still belongs to the attempt, so a
  worker that lost its lease cannot overwrite the next attempt's artifacts;
- a reaper requeues running jobs whose lease expired and publishes queued jobs that
  have no message (the broker was down when the upload was accepted, or the message
  was lost).
"""

from __future__ import annotations

import logging
import os
import threading
from datetime import timedelta
from typing import Any

from celery import Celery
from kombu.entity import Exchange, Queue

from registry._job_messages import JobMessage, job_message
from registry._jobs import JobRunner
from registry._orm import utcnow
from registry._queues import QUEUES, queue_for
from registry._service import Registry
from registry._settings import Settings

__all__ = ["TASK_NAME", "CeleryDispatcher", "JobReaper", "celery_app"]

log = logging.getLogger("modelport.celery")

TASK_NAME = "modelport.convert"
_EXCHANGE = Exchange("modelport", type="direct", durable=True)  # type: ignore[no-untyped-call]


def _queue(name: str) -> Queue:
    return Queue(name, _EXCHANGE, routing_key=name, durable=True)  # type: ignore[no-untyped-call]


def celery_app(settings: Settings) -> Celery:
    """A Celery app for the registry's broker, with one durable queue per framework group."""
    app = Celery("modelport", broker=settings.broker_url, set_as_current=False)
    app.conf.update(
        task_queues=[_queue(q) for q in QUEUES],
        task_default_queue="sklearn",
        task_default_exchange="modelport",
        task_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_default_delivery_mode="persistent",
        worker_prefetch_multiplier=1,
        worker_hijack_root_logger=False,
        worker_redirect_stdouts=False,
        # A job outlives a lost broker connection; the job row decides who finishes it.
        worker_cancel_long_running_tasks_on_connection_loss=False,
        broker_connection_timeout=3,
        broker_connection_retry_on_startup=True,
        broker_connection_max_retries=None,
        broker_transport_options={"confirm_publish": True},
    )
    app.task(name=TASK_NAME, bind=True, acks_late=True, reject_on_worker_lost=True)(_convert)
    return app


_worker_runner: JobRunner | None = None


def _convert(task: Any, message: dict[str, Any]) -> bool:
    """The Celery task: run one attempt of one job in this worker process."""
    if _worker_runner is None:
        raise RuntimeError("no job runner in this process; start it with 'modelport worker'")
    return _worker_runner.run_message(JobMessage.from_dict(message))


class CeleryDispatcher:
    """Publishes jobs to the broker; nothing is converted in this process."""

    def __init__(self, registry: Registry, app: Celery | None = None) -> None:
        self.registry = registry
        self.app = app or celery_app(registry.settings)
        self._lock = threading.Lock()
        self._reaper: JobReaper | None = None

    def start(self) -> None:
        """Start the reaper thread of this process."""
        self._reaper = JobReaper(self.registry, self)
        self._reaper.start()

    def stop(self) -> None:
        if self._reaper is not None:
            self._reaper.stop()
        self.app.close()

    def submit(self, job_id: str, request_id: str | None = None) -> bool:
        """Publish a queued job; False (and the job waits for the reaper) if the broker is
        unreachable. Never raises for a broker problem: the upload is already accepted."""
        metadata = self.registry.metadata
        claim = metadata.next_attempt(job_id)
        if claim is None:  # claimed or finished meanwhile
            return True
        message = job_message(claim, metadata.job_input(claim), request_id)
        try:
            self._publish(message)
        except Exception as exc:  # kombu raises many kinds for a broker that is down
            log.warning("job %s not published (%s); the reaper publishes it later", job_id, exc)
            return False
        metadata.mark_published(job_id)
        return True

    def submit_many(self, job_ids: list[str]) -> None:
        """Publish each job (those the broker refuses wait for the reaper)."""
        for job_id in job_ids:
            self.submit(job_id)

    def _publish(self, message: JobMessage) -> None:
        queue = queue_for(message.framework)
        with self._lock:
            self.app.send_task(
                TASK_NAME,
                kwargs={"message": message.to_dict()},
                queue=queue,
                routing_key=queue,
                exchange=_EXCHANGE,
                retry=True,
                retry_policy={"max_retries": 1, "interval_start": 0.2, "interval_step": 0.5},
            )


class JobReaper:
    """Requeues jobs whose lease expired and publishes queued jobs that lack a message.

    Runs in every API process and every worker when ``workers='celery'``; what it does
    twice is harmless, since a worker claims each attempt once.
    """

    def __init__(self, registry: Registry, dispatcher: CeleryDispatcher) -> None:
        self.registry = registry
        self.settings = registry.settings
        self.dispatcher = dispatcher
        self.leases = JobRunner(registry, on_queued=dispatcher.submit_many)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="modelport-reaper", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)

    def sweep(self) -> int:
        """One pass; the number of jobs published."""
        self.leases.requeue_stale()
        now = utcnow()
        cutoff = now - timedelta(seconds=self.settings.job_republish_s)
        # A fresh upload's own request publishes it (with its request id): leave it a grace.
        grace = now - timedelta(seconds=max(2.0, self.settings.job_lease_s / 3))
        published = 0
        for job_id in self.registry.metadata.unpublished_jobs(cutoff, grace, limit=500):
            if not self.dispatcher.submit(job_id):
                break  # the broker is down: the next pass tries again
            published += 1
        return published

    def _loop(self) -> None:
        period = max(0.5, self.settings.job_lease_s / 3)
        while not self._stop.wait(period):
            try:
                published = self.sweep()
            except Exception:
                log.exception("job reaper sweep failed")
                continue
            if published:
                log.info("reaper published %d job(s)", published)


def run_worker(settings: Settings, queues: list[str], concurrency: int) -> None:
    """Consume ``queues`` with ``concurrency`` threads until stopped (``modelport worker``)."""
    global _worker_runner
    unknown = [q for q in queues if q not in QUEUES]
    if unknown:
        raise ValueError(f"unknown queue(s) {', '.join(unknown)}; choose from {', '.join(QUEUES)}")
    registry = Registry(settings)
    app = celery_app(settings)
    dispatcher = CeleryDispatcher(registry, app)
    _worker_runner = JobRunner(registry, on_queued=dispatcher.submit_many)
    if settings.fork_server:  # a warm parent per group this worker serves
        for group in queues or QUEUES:
            threading.Thread(target=_worker_runner.warm, args=(group,), daemon=True).start()
    dispatcher.start()
    try:
        app.worker_main(
            [
                "worker",
                f"--queues={','.join(queues or QUEUES)}",
                "--pool=threads",
                f"--concurrency={concurrency}",
                f"--hostname=modelport-{os.getpid()}@%h",
                "--without-gossip",
                "--without-mingle",
                "--loglevel=INFO",
            ]
        )
    finally:
        dispatcher.stop()
        registry.close()

"""The job runner: claims queued jobs and runs each in an isolated worker process.

For every job the runner prepares a private directory, runs the conversion worker on
it in a process of its own with a wall-clock timeout, a memory limit and an
environment without any ``MODELPORT_*`` or ``AWS_*`` variable, then stores what the
worker wrote (see "Conversion worker protocol" in docs/architecture.md). The process
is forked from the warm parent of the job's framework group (``converters.ForkServer``,
``MODELPORT_FORK_SERVER``), else started as ``python -m converters.worker JOB_DIR``.
The job's ``timings`` hold queue_s, prepare_s, fork_s, load_s, convert_s, validate_s
(and per format), worker_s and store_s.
"""

from __future__ import annotations

import ctypes
import dataclasses
import logging
import os
import resource
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from converters import (
    REQUEST_FILE,
    RESULT_FILE,
    ArtifactResult,
    ForkServer,
    ForkServerDied,
    PreprocessInput,
    ProtocolError,
    ServerPolicy,
    WorkerRequest,
    WorkerResult,
    framework_group,
)
from registry._compose import preprocess_blobs
from registry._domain import USABLE_STATUSES, Artifact
from registry._job_messages import JobMessage, worker_request
from registry._logs import job_context
from registry._metadata import JobClaim, JobInput, JobOutcome
from registry._metrics import observe_job
from registry._orm import utcnow
from registry._packing import pack_directory
from registry._service import Registry
from registry._uploads import safe_suffix
from runtime._wire import ArtifactFile

__all__ = ["JobRunner"]

log = logging.getLogger("modelport.jobs")

MAX_ATTEMPTS = 2  # a crashed worker is retried once
_PR_SET_PDEATHSIG = 1
_ROOT = Path(__file__).resolve().parent.parent


class _WorkerCrashed(Exception):
    """The worker died without a result; worth one more try."""


class _JobFailed(Exception):
    """The job cannot succeed (timeout, memory, bad result); no retry."""


class JobRunner:
    """Background threads that drain the job queue of one registry.

    >>> runner = JobRunner(registry); runner.start()     # doctest: +SKIP
    >>> runner.stop()                                     # doctest: +SKIP
    """

    def __init__(
        self, registry: Registry, on_queued: Callable[[list[str]], None] | None = None
    ) -> None:
        self.registry = registry
        self.settings = registry.settings
        self.metadata = registry.metadata
        #: Called with the ids of jobs put back in the queue (the Celery tier publishes them).
        self.on_queued = on_queued
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._threads: list[threading.Thread] = []
        self._procs: set[subprocess.Popen[bytes]] = set()
        self._lock = threading.Lock()
        self._active: set[str] = set()
        self._servers: dict[str, ForkServer] = {}

    # -- lifecycle -----------------------------------------------------------------

    def start(self) -> None:
        """Requeue jobs whose runner is gone, then start the threads."""
        self.requeue_stale()
        if self.settings.fork_server:
            for group in filter(None, (g.strip() for g in self.settings.fork_preload.split(","))):
                threading.Thread(target=self._warm, args=(group,), daemon=True).start()
        for i in range(self.settings.worker_concurrency):
            t = threading.Thread(target=self._loop, name=f"modelport-jobs-{i}", daemon=True)
            t.start()
            self._threads.append(t)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the threads and kill running workers; their jobs go back to the queue."""
        self._stop.set()
        self._wake.set()
        with self._lock:
            procs = list(self._procs)
        for proc in procs:
            proc.kill()
        for t in self._threads:
            t.join(timeout)
        self._threads.clear()
        with self._lock:
            servers = list(self._servers.values())
            self._servers.clear()
        for server in servers:
            server.close()
        with self._lock:
            active = list(self._active)
        if active:
            self._requeue(active)

    def notify(self) -> None:
        """Wake a sleeping runner (called after an upload queued a job)."""
        self._wake.set()

    def requeue_stale(self) -> int:
        """Requeue running jobs whose heartbeat is older than the lease (their runner died)."""
        cutoff = utcnow() - timedelta(seconds=self.settings.job_lease_s)
        with self._lock:
            mine = list(self._active)
        count = self.metadata.requeue_stale(cutoff, mine)
        if count:
            log.warning("requeued %d interrupted job(s)", count)
        return count

    def _requeue(self, job_ids: list[str]) -> int:
        count = self.metadata.requeue(job_ids)
        if count:
            log.warning("requeued %d interrupted job(s)", count)
            self._queued(job_ids)
        return count

    def _queued(self, job_ids: list[str]) -> None:
        if self.on_queued is not None:
            self.on_queued(job_ids)
        else:
            self._wake.set()

    def _loop(self) -> None:
        next_sweep = time.monotonic() + self.settings.job_lease_s / 3
        while not self._stop.is_set():
            try:
                if time.monotonic() >= next_sweep:
                    next_sweep = time.monotonic() + self.settings.job_lease_s / 3
                    self.requeue_stale()
                worked = self.run_once()
            except Exception:
                log.exception("job runner iteration failed")
                worked = False
            if not worked:
                self._wake.wait(self.settings.job_poll_s)
                self._wake.clear()

    # -- one job -------------------------------------------------------------------

    def run_once(self) -> bool:
        """Claim and run one queued job; False when the queue was empty."""
        claim = self._claim()
        if claim is None:
            return False
        self._execute(claim, None)
        return True

    def run_message(self, message: JobMessage) -> bool:
        """Run the attempt a task message names, if it is still to be run.

        The claim is conditional on the job being queued with ``attempt - 1`` attempts
        behind it, so a message delivered twice (or a copy the reaper published) runs
        the attempt once; False when the message was such a duplicate.
        """
        claim = self.metadata.claim_attempt(message.job_id, message.attempt)
        if claim is None:
            log.info(
                "job %s attempt %d is not queued any more; message dropped",
                message.job_id,
                message.attempt,
            )
            return False
        with self._lock:
            self._active.add(claim.job_id)
        self._execute(claim, message)
        return True

    def _execute(self, claim: JobClaim, message: JobMessage | None) -> None:
        with job_context(claim.job_id, message.request_id if message else None):
            log.info("job %s attempt %d started", claim.job_id, claim.attempts)
            t0 = time.monotonic()
            timings: dict[str, float] = {}
            # Our own ids, never a user string. One folder per attempt, so a worker orphaned
            # by a killed server can never write into the folder of the job's next attempt.
            job_dir = self._jobs_root() / claim.job_id / str(claim.attempts)
            shutil.rmtree(job_dir, ignore_errors=True)
            job_dir.mkdir(parents=True)
            framework = message.framework if message else "unknown"
            timings["queue_s"] = round(claim.queued_s, 4)
            try:
                request = self._prepare(claim, job_dir, message)
                framework = request.framework or framework
                timings["prepare_s"] = round(time.monotonic() - t0, 4)
                t1 = time.monotonic()
                result = self._run_worker(claim, job_dir, request, timings)
                timings["worker_s"] = round(time.monotonic() - t1, 4)
                timings.update(_stage_timings(result))
                t2 = time.monotonic()
                self._record(claim, job_dir, result, timings, t2, framework)
            except _WorkerCrashed as exc:
                timings["worker_s"] = round(time.monotonic() - t0, 4)
                self._crashed(claim, str(exc), timings, framework)
            except _JobFailed as exc:
                self._fail(claim, str(exc), timings, framework)
            except Exception as exc:
                log.exception("job %s failed", claim.job_id)
                self._fail(
                    claim, f"internal error while running the job: {exc}", timings, framework
                )
            finally:
                shutil.rmtree(job_dir.parent, ignore_errors=True)
                with self._lock:
                    self._active.discard(claim.job_id)

    def _jobs_root(self) -> Path:
        root = self.settings.jobs_dir
        root.mkdir(parents=True, exist_ok=True)
        return root

    def _claim(self) -> JobClaim | None:
        claim = self.metadata.claim_job()
        if claim is not None:
            with self._lock:
                self._active.add(claim.job_id)
        return claim

    def _prepare(
        self, claim: JobClaim, job_dir: Path, message: JobMessage | None = None
    ) -> WorkerRequest:
        """Write the job folder; the request written."""
        if message is None:
            inp: JobInput = self.metadata.job_input(claim)
            request = worker_request(inp)
            source_sha, sample_sha = inp.source_sha256, inp.sample_sha256
        else:
            request = WorkerRequest.from_dict(message.request)
            source_sha, sample_sha = message.source_sha256, message.sample_sha256
        pre = preprocess_blobs(self.metadata, request.options)
        # The policy always comes from this process's settings: never from the uploader,
        # nor from whoever could publish a task message.
        request = dataclasses.replace(
            request,
            policy=ServerPolicy(allow_pickle=self.settings.allow_pickle),
            preprocess=None
            if pre is None
            else PreprocessInput(
                source="input/preprocess" + safe_suffix(pre[1]),
                filename=pre[1],
                onnx="input/preprocess.onnx",
                ref=pre[3],
            ),
        )
        (job_dir / "input").mkdir()
        (job_dir / "out").mkdir()
        store = self.registry.store
        store.copy_to(source_sha, _inside(job_dir, request.source))
        if sample_sha and request.sample:
            store.copy_to(sample_sha, _inside(job_dir, request.sample))
        if pre is not None and request.preprocess is not None:
            store.copy_to(pre[0], job_dir / request.preprocess.source)
            store.copy_to(pre[2], job_dir / request.preprocess.onnx)
        (job_dir / REQUEST_FILE).write_text(request.to_json())
        return request

    def _worker_env(self) -> dict[str, str]:
        # no database URL, tokens or object-store credentials for code that reads uploads
        env = {k: v for k, v in os.environ.items() if not k.startswith(("MODELPORT_", "AWS_"))}
        path = env.get("PYTHONPATH", "")
        env["PYTHONPATH"] = str(_ROOT) + (os.pathsep + path if path else "")
        return env

    def _limits(self) -> Any:
        if sys.platform != "linux":
            return None
        mb = self.settings.job_memory_mb
        limit = mb * 1024 * 1024
        prctl = ctypes.CDLL(None, use_errno=True).prctl

        def apply() -> None:  # runs in the child between fork and exec: no locks taken
            # Die with the process that runs the job (a worker killed with -9), so no
            # orphaned conversion outlives its job's lease.
            prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
            if mb > 0:
                # RLIMIT_DATA bounds the heap and private mappings a worker really uses. The
                # address-space limit (RLIMIT_AS) would also count the large reservations
                # the JVM makes at start, so sklearn2pmml and pypmml could not start under it.
                resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))

        return apply

    # -- running the worker ------------------------------------------------------------

    def warm(self, group: str) -> None:
        """Start the warm parent of ``group`` ahead of its first job (a Celery worker
        warms the groups of the queues it serves)."""
        self._warm(group)
        log.info("fork server %s ready", group)

    def _warm(self, group: str) -> None:
        try:
            self._server(group).start()
        except Exception:  # the first job of the group tries again and reports
            log.warning("could not start the %s fork server", group, exc_info=True)

    def _server(self, group: str) -> ForkServer:
        with self._lock:
            server = self._servers.get(group)
            if server is None:
                server = ForkServer(
                    group,
                    python=self.settings.worker_python,
                    env=self._worker_env(),
                    cwd=self._jobs_root(),
                )
                self._servers[group] = server
            return server

    def _run_worker(
        self,
        claim: JobClaim,
        job_dir: Path,
        request: WorkerRequest,
        timings: dict[str, float],
    ) -> WorkerResult:
        log_path = job_dir / "worker.log"
        if self.settings.fork_server:
            code = self._run_forked(claim, job_dir, request, log_path, timings)
        else:
            code = self._run_spawned(claim, job_dir, log_path)
        return self._collect(job_dir, log_path, code)

    def _timed_out(self) -> _JobFailed:
        return _JobFailed(
            f"the conversion worker timed out after {self.settings.job_timeout_s:g}s and was "
            "stopped; raise MODELPORT_JOB_TIMEOUT_S or upload a smaller model"
        )

    def _run_forked(
        self,
        claim: JobClaim,
        job_dir: Path,
        request: WorkerRequest,
        log_path: Path,
        timings: dict[str, float],
    ) -> int | None:
        server = self._server(framework_group(request.framework))
        try:
            done = server.run(
                job_dir,
                timeout_s=self.settings.job_timeout_s,
                memory_mb=self.settings.job_memory_mb,
                log_path=log_path,
                tick=lambda: self._heartbeat(claim),
                tick_s=self.settings.job_lease_s / 3,
            )
        except ForkServerDied as exc:
            raise _WorkerCrashed(str(exc)) from None
        timings["fork_s"] = round(done.fork_s, 4)
        if done.timed_out:
            raise self._timed_out()
        return done.code

    def _run_spawned(self, claim: JobClaim, job_dir: Path, log_path: Path) -> int | None:
        cmd = [self.settings.worker_python, "-m", "converters.worker", str(job_dir)]
        with log_path.open("wb") as out:
            proc = subprocess.Popen(
                cmd,
                cwd=job_dir,
                env=self._worker_env(),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                preexec_fn=self._limits(),
                process_group=0,
            )
            with self._lock:
                self._procs.add(proc)
            try:
                return self._wait(proc, claim, self.settings.job_timeout_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                raise self._timed_out() from None
            finally:
                with self._lock:
                    self._procs.discard(proc)

    def _collect(self, job_dir: Path, log_path: Path, code: int | None) -> WorkerResult:
        tail = log_path.read_text(errors="replace")[-2000:] if log_path.exists() else ""
        if self._stop.is_set():
            raise _WorkerCrashed("the server stopped while the job was running")
        result_path = job_dir / RESULT_FILE
        if result_path.is_file():
            try:
                return WorkerResult.from_json(result_path.read_bytes())
            except ProtocolError as exc:
                raise _JobFailed(f"the worker wrote an unreadable {RESULT_FILE}: {exc}") from None
        if "MemoryError" in tail or "std::bad_alloc" in tail:
            raise _JobFailed(
                f"the conversion worker ran out of memory (limit {self.settings.job_memory_mb} "
                "MB); raise MODELPORT_JOB_MEMORY_MB or upload a smaller model"
            )
        raise _WorkerCrashed(
            f"the conversion worker exited with code {code} without a result: {tail.strip()[-600:]}"
        )

    def _wait(self, proc: subprocess.Popen[bytes], claim: JobClaim, timeout: float) -> int:
        """Wait for the worker, renewing the job's heartbeat; raise TimeoutExpired."""
        deadline = time.monotonic() + timeout
        beat = self.settings.job_lease_s / 3
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise subprocess.TimeoutExpired(proc.args, timeout)
            try:
                return proc.wait(timeout=min(beat, left))
            except subprocess.TimeoutExpired:
                self._heartbeat(claim)

    def _heartbeat(self, claim: JobClaim) -> None:
        try:
            self.metadata.heartbeat(claim)
        except Exception:  # a missed beat is retried on the next one
            log.warning("could not renew the heartbeat of job %s", claim.job_id, exc_info=True)

    # -- results -------------------------------------------------------------------

    def _store_artifact(self, job_dir: Path, item: ArtifactResult) -> Artifact:
        """The artifact as the registry keeps it, its file or folder put in the blob store."""
        art = Artifact.from_json(
            {
                "format": item.format,
                "sha256": None,
                "size": None,
                "media_type": item.media_type,
                "status": item.status,
                "validation": item.validation,
                "converter": item.converter,
                "signature": item.signature,
                "error": item.error,
            }
        )
        if not item.path:
            return art
        path = (job_dir / item.path).resolve()
        if not path.is_relative_to(job_dir.resolve()) or not path.exists():
            missing = f"the worker reported a missing path {item.path!r}"
            return dataclasses.replace(art, status="error", error=missing)
        if path.is_dir():
            tar = job_dir / f"{item.format}.tar"
            files = tuple(ArtifactFile.from_json(f) for f in pack_directory(path, tar))
            art = dataclasses.replace(art, files=files, media_type="application/x-tar")
            path = tar
        blob = self.registry.store.put_file(path)
        return dataclasses.replace(art, sha256=blob.sha256, size=blob.size)

    def _record(
        self,
        claim: JobClaim,
        job_dir: Path,
        result: WorkerResult,
        timings: dict[str, float],
        t_store: float,
        framework: str,
    ) -> None:
        items = [i for i in result.artifacts if i.format != "source"]
        stored = [self._store_artifact(job_dir, i) for i in items]
        timings["store_s"] = round(time.monotonic() - t_store, 4)
        usable = [a for a in stored if a.status in USABLE_STATUSES]
        error = None
        if not usable:
            reasons = [f"{a.format}: {a.error or a.status}" for a in stored]
            error = result.error or "; ".join(reasons) or "the worker produced no artifact"
        outcome = JobOutcome(stored, result.signature, result.lineage, timings, error)
        status = "succeeded" if error is None else "failed"
        if not self.metadata.record_result(claim, outcome):
            log.warning(
                "job %s attempt %d lost its lease; its results are dropped",
                claim.job_id,
                claim.attempts,
            )
            return
        observe_job(framework, stored, status, timings)
        log.info("job %s attempt %d %s", claim.job_id, claim.attempts, status)

    def _crashed(
        self, claim: JobClaim, reason: str, timings: dict[str, float], framework: str
    ) -> None:
        if self._stop.is_set():  # the server is stopping: the next start runs it again
            self._requeue([claim.job_id])
            return
        if claim.attempts < MAX_ATTEMPTS:
            log.warning("job %s: %s; retrying", claim.job_id, reason)
            if self.metadata.retry_job(claim, reason, timings):
                self._queued([claim.job_id])
            return
        self._fail(claim, reason, timings, framework)

    def _fail(
        self, claim: JobClaim, reason: str, timings: dict[str, float], framework: str
    ) -> None:
        if self._stop.is_set():
            self._requeue([claim.job_id])
            return
        if self.metadata.fail_job(claim, reason, timings):
            observe_job(framework, [], "failed", timings)
            log.info("job %s attempt %d failed: %s", claim.job_id, claim.attempts, reason)


def _inside(job_dir: Path, rel: str) -> Path:
    """A path the request names, refused when it would leave the job folder."""
    path = (job_dir / rel).resolve()
    if not path.is_relative_to(job_dir.resolve()):
        raise _JobFailed(f"the request names a path outside the job folder: {rel!r}")
    return path


def _stage_timings(result: WorkerResult) -> dict[str, float]:
    """load_s, convert_s and validate_s (in total and per format) from the worker's result."""
    out: dict[str, float] = {}
    load = result.lineage.get("load_s") if isinstance(result.lineage, dict) else None
    if isinstance(load, int | float):
        out["load_s"] = round(float(load), 4)
    for stage in ("convert_s", "validate_s"):
        parts = {a.format: a.timings.get(stage) for a in result.artifacts}
        spent = {f: float(v) for f, v in parts.items() if isinstance(v, int | float)}
        if spent:
            out[stage] = round(sum(spent.values()), 4)
            out.update({f"{f}_{stage}": round(v, 4) for f, v in spent.items()})
    return out

"""The job runner: claims queued jobs and runs each in an isolated worker process.

For every job the runner prepares a private directory, runs
``python -m converters.worker JOB_DIR`` with a wall-clock timeout, an address-space
limit and an environment without any ``MODELPORT_*`` variable, then stores what the
worker wrote (see "Conversion worker protocol" in docs/architecture.md).
"""

from __future__ import annotations

import logging
import os
import resource
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import and_, or_, select, update

from converters import (
    REQUEST_FILE,
    RESULT_FILE,
    ArtifactResult,
    PreprocessInput,
    ProtocolError,
    ServerPolicy,
    WorkerRequest,
    WorkerResult,
)
from registry._compose import preprocess_blobs
from registry._domain import USABLE_STATUSES
from registry._orm import ArtifactRow, JobRow, VersionRow, utcnow
from registry._packing import pack_directory
from registry._service import Registry
from registry._uploads import safe_suffix

__all__ = ["JobRunner"]

log = logging.getLogger("modelport.jobs")

MAX_ATTEMPTS = 2  # a crashed worker is retried once
_ROOT = Path(__file__).resolve().parent.parent


class _WorkerCrashed(Exception):
    """The worker died without a result; worth one more try."""


class _JobFailed(Exception):
    """The job cannot succeed (timeout, memory, bad result); no retry."""


@dataclass
class _Claim:
    job_id: str
    version_id: int
    attempts: int


class JobRunner:
    """Background threads that drain the job queue of one registry.

    >>> runner = JobRunner(registry); runner.start()     # doctest: +SKIP
    >>> runner.stop()                                     # doctest: +SKIP
    """

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self.settings = registry.settings
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._threads: list[threading.Thread] = []
        self._procs: set[subprocess.Popen[bytes]] = set()
        self._lock = threading.Lock()
        self._active: set[str] = set()

    # -- lifecycle -----------------------------------------------------------------

    def start(self) -> None:
        """Requeue jobs whose runner is gone, then start the threads."""
        self.requeue_stale()
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
            active = list(self._active)
        if active:
            self._requeue(JobRow.id.in_(active))

    def notify(self) -> None:
        """Wake a sleeping runner (called after an upload queued a job)."""
        self._wake.set()

    def requeue_stale(self) -> int:
        """Requeue running jobs whose heartbeat is older than the lease (their runner died)."""
        cutoff = utcnow() - timedelta(seconds=self.settings.job_lease_s)
        with self._lock:
            mine = list(self._active)
        stale = and_(
            or_(JobRow.heartbeat_at.is_(None), JobRow.heartbeat_at < cutoff),
            JobRow.id.not_in(mine),
        )
        return self._requeue(stale)

    def _requeue(self, which: Any) -> int:
        with self.registry.db.write() as s:
            ids = list(s.scalars(select(JobRow.id).where(JobRow.status == "running", which)))
            if not ids:
                return 0
            s.execute(update(JobRow).where(JobRow.id.in_(ids)).values(status="queued"))
            s.execute(
                update(VersionRow)
                .where(VersionRow.id.in_(select(JobRow.version_id).where(JobRow.id.in_(ids))))
                .values(status="pending")
            )
        log.warning("requeued %d interrupted job(s)", len(ids))
        return len(ids)

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
        t0 = time.monotonic()
        timings: dict[str, float] = {}
        # Our own ids, never a user string. One folder per attempt, so a worker orphaned by
        # a killed server can never write into the folder of the job's next attempt.
        job_dir = self._jobs_root() / claim.job_id / str(claim.attempts)
        shutil.rmtree(job_dir, ignore_errors=True)
        job_dir.mkdir(parents=True)
        try:
            self._prepare(claim, job_dir)
            timings["prepare_s"] = round(time.monotonic() - t0, 4)
            t1 = time.monotonic()
            result = self._run_worker(claim, job_dir)
            timings["worker_s"] = round(time.monotonic() - t1, 4)
            t2 = time.monotonic()
            self._record(claim, job_dir, result, timings, t2)
        except _WorkerCrashed as exc:
            timings["worker_s"] = round(time.monotonic() - t0, 4)
            self._crashed(claim, str(exc), timings)
        except _JobFailed as exc:
            self._fail(claim, str(exc), timings)
        except Exception as exc:
            log.exception("job %s failed", claim.job_id)
            self._fail(claim, f"internal error while running the job: {exc}", timings)
        finally:
            shutil.rmtree(job_dir.parent, ignore_errors=True)
            with self._lock:
                self._active.discard(claim.job_id)
        return True

    def _jobs_root(self) -> Path:
        root = self.settings.jobs_dir
        root.mkdir(parents=True, exist_ok=True)
        return root

    def _claim(self) -> _Claim | None:
        """Take the oldest queued job. The conditional UPDATE makes two claimers safe."""
        for _ in range(5):
            with self.registry.db.write() as s:
                row = s.execute(
                    select(JobRow.id, JobRow.version_id, JobRow.attempts)
                    .where(JobRow.status == "queued")
                    .order_by(JobRow.created_at, JobRow.id)
                    .limit(1)
                ).first()
                if row is None:
                    return None
                job_id, version_id, attempts = row
                now = utcnow()
                res = s.execute(
                    update(JobRow)
                    .where(JobRow.id == job_id, JobRow.status == "queued")
                    .values(
                        status="running", attempts=attempts + 1, started_at=now, heartbeat_at=now
                    )
                )
                if res.rowcount != 1:  # type: ignore[attr-defined]
                    continue
                s.execute(
                    update(VersionRow)
                    .where(VersionRow.id == version_id)
                    .values(status="converting", updated_at=now)
                )
                with self._lock:
                    self._active.add(job_id)
                return _Claim(job_id, version_id, attempts + 1)
        return None

    def _prepare(self, claim: _Claim, job_dir: Path) -> None:
        with self.registry.db.read() as s:
            v = s.get(VersionRow, claim.version_id)
            assert v is not None
            tolerance = v.tolerance or {}
            pre = preprocess_blobs(s, v.options or {})
            request = WorkerRequest(
                source="input/model" + safe_suffix(v.source_filename),
                filename=v.source_filename,
                framework=v.framework,
                targets=tuple(v.targets or ()),
                sample=f"input/sample.{v.sample_kind}" if v.sample_sha256 else None,
                atol=tolerance.get("atol"),
                rtol=tolerance.get("rtol"),
                options=dict(v.options or {}),
                # the policy always comes from the server, never from the uploader
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
            source_sha, sample_sha = v.source_sha256, v.sample_sha256
        (job_dir / "input").mkdir()
        (job_dir / "out").mkdir()
        store = self.registry.store
        store.copy_to(source_sha, job_dir / request.source)
        if sample_sha and request.sample:
            store.copy_to(sample_sha, job_dir / request.sample)
        if pre is not None and request.preprocess is not None:
            store.copy_to(pre[0], job_dir / request.preprocess.source)
            store.copy_to(pre[2], job_dir / request.preprocess.onnx)
        (job_dir / REQUEST_FILE).write_text(request.to_json())

    def _worker_env(self) -> dict[str, str]:
        # no database URL, tokens or object-store credentials for code that reads uploads
        env = {k: v for k, v in os.environ.items() if not k.startswith(("MODELPORT_", "AWS_"))}
        path = env.get("PYTHONPATH", "")
        env["PYTHONPATH"] = str(_ROOT) + (os.pathsep + path if path else "")
        return env

    def _limits(self) -> Any:
        mb = self.settings.job_memory_mb
        if mb <= 0 or sys.platform != "linux":
            return None
        limit = mb * 1024 * 1024

        def apply() -> None:  # runs in the child between fork and exec: no locks taken
            # RLIMIT_DATA bounds the heap and private mappings a worker really uses. The
            # address-space limit (RLIMIT_AS) would also count the large reservations the
            # JVM makes at start, so sklearn2pmml and pypmml could not start under it.
            resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))

        return apply

    def _run_worker(self, claim: _Claim, job_dir: Path) -> WorkerResult:
        cmd = [self.settings.worker_python, "-m", "converters.worker", str(job_dir)]
        log_path = job_dir / "worker.log"
        timeout = self.settings.job_timeout_s
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
                code = self._wait(proc, claim, timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                raise _JobFailed(
                    f"the conversion worker timed out after {timeout:g}s and was stopped; "
                    "raise MODELPORT_JOB_TIMEOUT_S or upload a smaller model"
                ) from None
            finally:
                with self._lock:
                    self._procs.discard(proc)
        tail = log_path.read_text(errors="replace")[-2000:]
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

    def _wait(self, proc: subprocess.Popen[bytes], claim: _Claim, timeout: float) -> int:
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

    def _heartbeat(self, claim: _Claim) -> None:
        try:
            with self.registry.db.write() as s:
                s.execute(
                    update(JobRow)
                    .where(JobRow.id == claim.job_id, JobRow.status == "running")
                    .values(heartbeat_at=utcnow())
                )
        except Exception:  # a missed beat is retried on the next one
            log.warning("could not renew the heartbeat of job %s", claim.job_id, exc_info=True)

    # -- results -------------------------------------------------------------------

    def _store_artifact(self, job_dir: Path, item: ArtifactResult) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "format": item.format,
            "status": item.status,
            "media_type": item.media_type,
            "validation": item.validation,
            "converter": item.converter,
            "signature": item.signature,
            "error": item.error,
            "sha256": None,
            "size": None,
            "files": None,
        }
        if not item.path:
            return fields
        path = (job_dir / item.path).resolve()
        if not path.is_relative_to(job_dir.resolve()) or not path.exists():
            fields.update(status="error", error=f"the worker reported a missing path {item.path!r}")
            return fields
        if path.is_dir():
            tar = job_dir / f"{item.format}.tar"
            fields["files"] = pack_directory(path, tar)
            fields["media_type"] = "application/x-tar"
            path = tar
        blob = self.registry.store.put_file(path)
        fields.update(sha256=blob.sha256, size=blob.size)
        return fields

    def _record(
        self,
        claim: _Claim,
        job_dir: Path,
        result: WorkerResult,
        timings: dict[str, float],
        t_store: float,
    ) -> None:
        items = [i for i in result.artifacts if i.format != "source"]
        stored = [self._store_artifact(job_dir, i) for i in items]
        timings["store_s"] = round(time.monotonic() - t_store, 4)
        usable = [a for a in stored if a["status"] in USABLE_STATUSES]
        error = None
        if not usable:
            reasons = [f"{a['format']}: {a['error'] or a['status']}" for a in stored]
            error = result.error or "; ".join(reasons) or "the worker produced no artifact"
        now = utcnow()
        with self.registry.db.write() as s:
            v = s.get(VersionRow, claim.version_id)
            assert v is not None
            for old in s.scalars(
                select(ArtifactRow).where(
                    ArtifactRow.version_id == v.id, ArtifactRow.format != "source"
                )
            ):
                s.delete(old)
            s.flush()
            for a in stored:
                s.add(ArtifactRow(version_id=v.id, created_at=now, **a))
            if result.signature is not None:
                v.signature = result.signature
            v.lineage = result.lineage
            v.status = "ready" if usable else "failed"
            v.error = None if usable else str(error)
            v.updated_at = now
            job = s.get(JobRow, claim.job_id)
            assert job is not None
            job.status = "succeeded" if usable else "failed"
            job.error = None if usable else str(error)
            job.finished_at = now
            job.timings = timings

    def _crashed(self, claim: _Claim, reason: str, timings: dict[str, float]) -> None:
        if self._stop.is_set():  # the server is stopping: the next start runs it again
            self._requeue(JobRow.id == claim.job_id)
            return
        if claim.attempts < MAX_ATTEMPTS:
            log.warning("job %s: %s; retrying", claim.job_id, reason)
            with self.registry.db.write() as s:
                s.execute(
                    update(JobRow)
                    .where(JobRow.id == claim.job_id)
                    .values(status="queued", error=reason, timings=timings)
                )
            return
        self._fail(claim, reason, timings)

    def _fail(self, claim: _Claim, reason: str, timings: dict[str, float]) -> None:
        if self._stop.is_set():
            self._requeue(JobRow.id == claim.job_id)
            return
        now = utcnow()
        with self.registry.db.write() as s:
            s.execute(
                update(JobRow)
                .where(JobRow.id == claim.job_id)
                .values(status="failed", error=reason, finished_at=now, timings=timings)
            )
            s.execute(
                update(VersionRow)
                .where(VersionRow.id == claim.version_id)
                .values(status="failed", error=reason, updated_at=now)
            )

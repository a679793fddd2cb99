"""Warm parents that fork one isolated conversion process per job.

Starting Python and importing a framework (scikit-learn with skl2onnx, torch, ...)
costs seconds, and every job used to pay it. A fork server is one long-lived process
per framework group, started without credentials in its environment, that has imported
the group's libraries once and then forks a fresh child for every job. The child is
what ``python -m converters.worker JOB_DIR`` was: its own process and process group,
its own memory limit, output to the job's log, killed on timeout. The parent never
loads a model or runs a conversion itself; it only imports libraries and forks, so no
job can leave anything behind for the next one.

The parent speaks JSON lines over its stdin/stdout:

* ``{"run": ID, "job_dir": PATH, "log": PATH, "memory_mb": N}`` -> ``{"started": ID, "pid": P}``
  once forked, then ``{"exited": ID, "code": C}`` when the child ends (C < 0: signal);
* ``{"kill": ID}``: the child's whole process group gets SIGKILL (only while it runs,
  so a recycled process id is never hit).

:class:`ForkServer` is the client: ``run(job_dir, ...)`` is a blocking call any
number of threads can make at once (the registry's job runner, a Celery worker's pool).
"""

from __future__ import annotations

import contextlib
import importlib
import itertools
import json
import os
import resource
import selectors
import signal
import subprocess
import sys
import threading
import time
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

__all__ = [
    "FRAMEWORK_GROUPS",
    "ForkServer",
    "ForkServerDied",
    "JobExit",
    "framework_group",
    "serve",
]

#: framework -> the group whose warm parent converts it (the Celery queues use the same).
FRAMEWORK_GROUPS: Mapping[str, str] = {
    "sklearn": "sklearn",
    "onnx": "sklearn",
    "torch": "torch",
    "keras": "tensorflow",
    "tensorflow": "tensorflow",
    # boosting libraries: PMML needs the sklearn group's Java and sklearn2pmml
    "xgboost": "sklearn",
    "lightgbm": "sklearn",
    "catboost": "sklearn",
    "transformers": "torch",
}

# What each group's parent imports before it forks anything. Imports only: running
# anything (an OpenMP region, a thread pool) before fork() could leave locks held in
# the children. A module that is not installed is skipped.
_PRELOAD: Mapping[str, Sequence[str]] = {
    "sklearn": (
        "numpy",
        "pandas",
        "onnx",
        "onnxruntime",
        "sklearn.base",
        "sklearn.ensemble",
        "sklearn.linear_model",
        "sklearn.pipeline",
        "sklearn.preprocessing",
        "sklearn.tree",
        "skops.io",
        "skl2onnx",
        "sklearn2pmml",
        "pypmml",
        "converters._sklearn",
        "converters._sklearn_pmml",
        "converters._onnx",
    ),
    "torch": ("numpy", "onnx", "onnxruntime", "torch", "onnxscript", "converters._torch"),
    "tensorflow": ("numpy", "onnx", "onnxruntime", "converters._keras"),
}
_COMMON = ("converters._worker", "converters._validation", "runtime._onnx", "runtime._pmml")


def framework_group(framework: str | None) -> str:
    """The fork-server group of ``framework`` (``other`` for plug-ins: no preloads)."""
    return FRAMEWORK_GROUPS.get(framework or "", "other")


class ForkServerDied(RuntimeError):
    """The warm parent is gone; its running children were killed."""


@dataclass(frozen=True, slots=True)
class JobExit:
    """How one forked job ended: exit ``code`` (negative: killed by that signal)."""

    code: int | None
    timed_out: bool
    fork_s: float
    run_s: float


class _Pending:
    def __init__(self) -> None:
        self.started_at = time.monotonic()
        self.forked_at: float | None = None
        self.pid: int | None = None
        self.code: int | None = None
        self.done = threading.Event()


class ForkServer:
    """A warm parent for one framework group; thread-safe.

    >>> server = ForkServer("sklearn", env=clean_env); server.start()   # doctest: +SKIP
    >>> server.run(job_dir, timeout_s=600, memory_mb=4096)              # doctest: +SKIP
    JobExit(code=0, timed_out=False, fork_s=0.004, run_s=0.8)
    """

    def __init__(
        self,
        group: str,
        *,
        python: str = sys.executable,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        target: str = "converters._worker:main",
    ) -> None:
        self.group = group
        self._cmd = [python, "-m", "converters.forkserver", group, target]
        self._env = dict(env) if env is not None else None
        self._cwd = cwd
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._pending: dict[int, _Pending] = {}
        self._ids = itertools.count(1)
        self._dead = threading.Event()

    @property
    def alive(self) -> bool:
        return self._proc is not None and not self._dead.is_set()

    def start(self, timeout_s: float = 300.0) -> None:
        """Launch the parent and wait until its imports are done."""
        with self._lock:
            if self.alive:
                return
            self._dead.clear()
            proc = subprocess.Popen(
                self._cmd,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                env=self._env,
                cwd=self._cwd,
                process_group=0,
            )
            assert proc.stdout is not None
            ready = threading.Event()
            # The reader holds no reference to this object, so a server nobody uses any
            # more is collected, and collecting it closes the parent's stdin: it exits.
            reader = threading.Thread(
                target=_read,
                args=(proc, ready, self._lock, self._pending, self._dead),
                name=f"forkserver-{self.group}",
                daemon=True,
            )
            self._proc = proc
            weakref.finalize(self, _close_stdin, proc)
            reader.start()
        if not ready.wait(timeout_s) or self._dead.is_set():
            self.close()
            raise ForkServerDied(f"the {self.group} fork server did not start")

    def run(
        self,
        job_dir: Path,
        *,
        timeout_s: float,
        memory_mb: int = 0,
        log_path: Path | None = None,
        tick: Callable[[], None] | None = None,
        tick_s: float = 20.0,
    ) -> JobExit:
        """Fork a child that runs the job in ``job_dir``; wait for it, killing it on timeout.

        ``tick`` is called every ``tick_s`` seconds while the child runs (a heartbeat).
        Raises :class:`ForkServerDied` when the parent is gone.
        """
        if not self.alive:
            self.start()
        job_id = next(self._ids)
        pending = _Pending()
        command = {
            "run": job_id,
            "job_dir": str(job_dir),
            "log": str(log_path or job_dir / "worker.log"),
            "memory_mb": memory_mb,
        }
        with self._lock:
            self._pending[job_id] = pending
            self._send(command)
        deadline = pending.started_at + timeout_s
        timed_out = False
        while not pending.done.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                timed_out = True
                self._kill(job_id)
                pending.done.wait(10.0)
                break
            if pending.done.wait(min(tick_s, left)):
                break
            if self._dead.is_set():
                break
            if tick is not None:
                tick()
        with self._lock:
            self._pending.pop(job_id, None)
        if pending.code is None and not timed_out:
            raise ForkServerDied(f"the {self.group} fork server died during a job")
        end = time.monotonic()
        forked = pending.forked_at or end
        return JobExit(pending.code, timed_out, forked - pending.started_at, end - forked)

    def close(self) -> None:
        """Stop the parent; it kills the children still running."""
        with self._lock:
            proc, self._proc = self._proc, None
        if proc is None:
            return
        with contextlib.suppress(OSError):
            assert proc.stdin is not None
            proc.stdin.close()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        self._dead.set()

    # -- plumbing ------------------------------------------------------------------

    def _send(self, command: dict[str, Any]) -> None:
        proc = self._proc
        if proc is None or proc.stdin is None:
            raise ForkServerDied(f"the {self.group} fork server is not running")
        try:
            proc.stdin.write(json.dumps(command).encode() + b"\n")
            proc.stdin.flush()
        except OSError as exc:
            raise ForkServerDied(f"the {self.group} fork server is gone: {exc}") from exc

    def _kill(self, job_id: int) -> None:
        with self._lock, contextlib.suppress(ForkServerDied):
            self._send({"kill": job_id})


def _close_stdin(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(OSError, ValueError):
        if proc.stdin is not None:
            proc.stdin.close()


def _read(
    proc: subprocess.Popen[bytes],
    ready: threading.Event,
    lock: threading.Lock,
    pending_jobs: dict[int, _Pending],
    dead: threading.Event,
) -> None:
    """The client's reader thread: route the parent's events to the waiting jobs."""
    assert proc.stdout is not None
    for line in proc.stdout:
        event = json.loads(line)
        if "ready" in event:
            ready.set()
            continue
        job_id = event.get("started") or event.get("exited")
        with lock:
            pending = pending_jobs.get(job_id)
        if pending is None:
            continue
        if "started" in event:
            pending.forked_at = time.monotonic()
            pending.pid = int(event["pid"])
        else:
            pending.code = int(event["code"])
            pending.done.set()
    dead.set()
    ready.set()
    proc.wait()
    with lock:
        for pending in pending_jobs.values():
            if pending.pid is not None and pending.code is None:
                # the parent died with this child running: its whole group goes too
                with contextlib.suppress(OSError):
                    os.killpg(pending.pid, signal.SIGKILL)
            pending.done.set()


# -- the parent process ---------------------------------------------------------------


def _preload(group: str) -> None:
    for name in (*_PRELOAD.get(group, ()), *_COMMON):
        with contextlib.suppress(Exception):  # not installed or broken: the job will say
            importlib.import_module(name)


def _child(job_dir: str, log: str, memory_mb: int, target: str) -> None:
    """In the forked child: isolate, then run the job like ``python -m converters.worker``."""
    code = 1
    try:
        os.setpgid(0, 0)
        _die_with_parent()
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        if memory_mb > 0 and sys.platform == "linux":
            limit = memory_mb * 1024 * 1024
            resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))
        fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        os.chdir(job_dir)
        module, _, func = target.partition(":")
        code = int(getattr(importlib.import_module(module), func)([job_dir]) or 0)
    except BaseException:  # noqa: BLE001 - the child must never return into the parent loop
        import traceback

        traceback.print_exc()
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


def _die_with_parent() -> None:
    """Linux: the kernel kills this process when the parent dies (PR_SET_PDEATHSIG)."""
    if sys.platform != "linux":
        return
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG


class _Parent:
    def __init__(self, out: IO[bytes], target: str) -> None:
        self.out = out
        self.target = target
        self.children: dict[int, int] = {}  # pid -> job id

    def emit(self, event: dict[str, Any]) -> None:
        self.out.write(json.dumps(event).encode() + b"\n")
        self.out.flush()

    def command(self, command: dict[str, Any]) -> None:
        if "run" in command:
            pid = os.fork()
            if pid == 0:
                job = (str(command["job_dir"]), str(command["log"]), int(command["memory_mb"]))
                _child(*job, self.target)
            self.children[pid] = int(command["run"])
            self.emit({"started": command["run"], "pid": pid})
        elif "kill" in command:
            for pid, job_id in self.children.items():
                if job_id == command["kill"]:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(pid, signal.SIGKILL)

    def reap(self) -> None:
        while self.children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            job_id = self.children.pop(pid, None)
            if job_id is not None:
                self.emit({"exited": job_id, "code": os.waitstatus_to_exitcode(status)})

    def stop(self) -> None:
        for pid in list(self.children):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
        for pid in list(self.children):
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)


def serve(group: str, target: str = "converters._worker:main") -> int:
    """The parent's loop: preload, then fork on request until stdin closes.

    Each child calls ``target`` (``module:function``) with ``[JOB_DIR]`` and exits
    with what it returns.
    """
    _preload(group)
    parent = _Parent(sys.stdout.buffer, target)
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    stdin = sys.stdin.buffer.fileno()
    selector = selectors.DefaultSelector()
    selector.register(stdin, selectors.EVENT_READ)
    selector.register(wake_r, selectors.EVENT_READ)
    parent.emit({"ready": group, "pid": os.getpid()})
    buffer = b""
    try:
        while True:
            for key, _ in selector.select():
                if key.fd == wake_r:
                    os.read(wake_r, 4096)
                    parent.reap()
                    continue
                data = os.read(stdin, 65536)
                if not data:
                    return 0
                buffer += data
                *lines, buffer = buffer.split(b"\n")
                for line in lines:
                    if line.strip():
                        parent.command(json.loads(line))
            parent.reap()
    finally:
        parent.stop()

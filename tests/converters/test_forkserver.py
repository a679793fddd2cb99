"""The warm parent that forks one isolated process per conversion job."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from pathlib import Path

import pytest

from converters import ForkServer, ForkServerDied, framework_group

ROOT = Path(__file__).resolve().parents[2]


def _server(target: str) -> ForkServer:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    server = ForkServer("test", env=env, target=f"tests.converters._fork_targets:{target}")
    server.start()
    return server


@pytest.fixture(scope="module")
def recorder():
    server = _server("record")
    yield server
    server.close()


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


def test_each_job_runs_in_a_fresh_child_of_its_own(recorder, tmp_path):
    seen = []
    for i in range(2):
        job = tmp_path / str(i)
        job.mkdir()
        done = recorder.run(job, timeout_s=60)
        assert (done.code, done.timed_out) == (0, False)
        assert done.fork_s >= 0 and done.run_s >= 0
        pid, pgid, state = (job / "seen.txt").read_text().split()
        assert pid == pgid  # a process group of its own, so a kill reaches its children
        assert state == "1"  # nothing of the previous job's memory is left
        assert (job / "worker.log").read_text() == "hello from the child\n"
        seen.append(pid)
    assert seen[0] != seen[1]


def test_concurrent_jobs_share_one_parent(recorder, tmp_path):
    results = {}

    def one(i: int) -> None:
        job = tmp_path / str(i)
        job.mkdir()
        results[i] = recorder.run(job, timeout_s=60).code

    threads = [threading.Thread(target=one, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == {0: 0, 1: 0, 2: 0, 3: 0}


def test_exit_code_is_reported(tmp_path):
    server = _server("exit3")
    try:
        assert server.run(tmp_path, timeout_s=60).code == 3
    finally:
        server.close()


def test_timeout_kills_the_job_and_its_children_and_beats_meanwhile(tmp_path):
    server = _server("hang")
    beats = []
    try:
        start = time.monotonic()
        done = server.run(tmp_path, timeout_s=2, tick=lambda: beats.append(1), tick_s=0.5)
        assert done.timed_out and done.code == -signal.SIGKILL
        assert time.monotonic() - start < 15
        assert len(beats) >= 2
        grandchild = int((tmp_path / "grandchild.txt").read_text())
        deadline = time.monotonic() + 5
        while _alive(grandchild) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(grandchild)
    finally:
        server.close()


@pytest.mark.skipif(sys.platform != "linux", reason="RLIMIT_DATA is enforced on Linux")
def test_memory_limit_applies_to_the_child_only(tmp_path):
    server = _server("greedy")
    try:
        done = server.run(tmp_path, timeout_s=60, memory_mb=200)
        assert done.code == 1
        assert "MemoryError" in (tmp_path / "worker.log").read_text()
        assert server.alive  # the parent was not touched
    finally:
        server.close()


def test_a_dead_parent_fails_the_running_job_and_stops_its_child(tmp_path):
    server = _server("hang")
    try:
        parent = server._proc.pid
        killer = threading.Timer(1.5, os.kill, (parent, signal.SIGKILL))
        killer.start()
        with pytest.raises(ForkServerDied):
            server.run(tmp_path, timeout_s=60)
        grandchild = int((tmp_path / "grandchild.txt").read_text())
        deadline = time.monotonic() + 5
        while _alive(grandchild) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(grandchild)
    finally:
        server.close()


def test_a_parent_that_cannot_start_is_reported(tmp_path):
    server = ForkServer("test", python=str(tmp_path / "no-such-python"))
    with pytest.raises(OSError):
        server.start()
    script = tmp_path / "exits"
    script.write_text("#!/bin/sh\nexit 1\n")
    script.chmod(0o755)
    broken = ForkServer("test", python=str(script))
    with pytest.raises(ForkServerDied):
        broken.start(timeout_s=60)


@pytest.mark.parametrize(
    ("framework", "group"),
    [
        ("sklearn", "sklearn"),
        ("onnx", "sklearn"),
        ("torch", "torch"),
        ("keras", "tensorflow"),
        ("tensorflow", "tensorflow"),
        ("lightgbm", "sklearn"),
        ("xgboost", "sklearn"),
        ("transformers", "torch"),
        ("a-third-party-plugin", "other"),
        (None, "other"),
    ],
)
def test_framework_groups(framework, group):
    assert framework_group(framework) == group


def test_a_server_nobody_holds_stops_its_parent():
    import gc

    server = _server("record")
    parent = server._proc.pid
    del server
    gc.collect()
    deadline = time.monotonic() + 10
    while _alive(parent) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(parent)

"""Job bodies for the fork server tests: each takes ``[JOB_DIR]`` like the worker."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

STATE: list[int] = []


def record(argv: list[str]) -> int:
    """Write this process's id and whether it inherited another job's state."""
    STATE.append(os.getpid())
    Path(argv[0], "seen.txt").write_text(f"{os.getpid()} {os.getpgrp()} {len(STATE)}")
    print("hello from the child")
    return 0


def exit3(argv: list[str]) -> int:
    return 3


def hang(argv: list[str]) -> int:
    """Start a grandchild, then hang: a timeout must stop both."""
    child = subprocess.Popen(["sleep", "120"])
    Path(argv[0], "grandchild.txt").write_text(str(child.pid))
    time.sleep(120)
    return 0


def greedy(argv: list[str]) -> int:
    block = bytearray(400 * 1024 * 1024)
    return len(block) and 0

"""``modelport serve`` and ``modelport db upgrade`` as real processes."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import ROOT, free_port


def _modelport() -> list[str]:
    script = Path(sys.executable).parent / "modelport"
    return [str(script)] if script.exists() else [sys.executable, "-m", "clients.cli"]


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELPORT_")}
    env["PYTHONPATH"] = str(ROOT)
    env.update(extra)
    return env


def test_db_upgrade_creates_the_schema(tmp_path):
    db = tmp_path / "registry.db"
    result = subprocess.run(
        [*_modelport(), "db", "upgrade"],
        env=_env(
            MODELPORT_DATA_DIR=str(tmp_path / "data"), MODELPORT_DATABASE_URL=f"sqlite:///{db}"
        ),
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    with sqlite3.connect(db) as conn:
        tables = {r[0] for r in conn.execute("select name from sqlite_master where type='table'")}
        revision = conn.execute("select version_num from alembic_version").fetchone()
    assert "alembic_version" in tables
    assert revision is not None
    assert len(tables) > 3


def test_serve_starts_the_registry_on_the_data_folder(tmp_path):
    port = free_port()
    data = tmp_path / "data"
    log = (tmp_path / "serve.log").open("wb")
    proc = subprocess.Popen(
        [*_modelport(), "serve", "--port", str(port), "--data", str(data)],
        env=_env(),
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=tmp_path,
    )
    try:
        deadline = time.monotonic() + 60
        ready = False
        while time.monotonic() < deadline and proc.poll() is None:
            with contextlib.suppress(httpx.HTTPError):
                ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200
            if ready:
                break
            time.sleep(0.2)
        assert ready, (tmp_path / "serve.log").read_text()
        assert data.is_dir() and any(data.iterdir())  # the registry keeps its state there
    finally:
        proc.terminate()
        proc.wait(timeout=20)


@pytest.mark.parametrize(
    ("blocked", "args"), [("uvicorn", ["serve"]), ("registry", ["db", "upgrade"])]
)
def test_missing_server_extra_prints_the_install_command(blocked, args):
    code = (
        "import sys\n"
        f"sys.modules[{blocked!r}] = None  # as if the server extra were not installed\n"
        f"sys.argv = ['modelport', *{args!r}]\n"
        "from clients.cli import main\n"
        "main()\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert result.returncode == 1
    assert "pip install 'modelport[server]'" in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_worker_refuses_an_unknown_queue_before_connecting(tmp_path):
    result = subprocess.run(
        [*_modelport(), "worker", "--queues", "sklearn,gpu"],
        env=_env(
            MODELPORT_DATA_DIR=str(tmp_path / "data"),
            MODELPORT_BROKER_URL="amqp://guest:guest@127.0.0.1:1//",  # nothing listens
        ),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2, result.stderr
    assert "unknown queue(s) gpu; choose from sklearn, torch, tensorflow" in result.stderr

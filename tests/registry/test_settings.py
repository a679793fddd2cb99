"""Settings come from MODELPORT_* variables; nothing is built at import time."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from registry import Settings


def test_defaults_put_sqlite_inside_the_data_dir(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    for var in ("MODELPORT_DATA_DIR", "MODELPORT_DATABASE_URL"):
        monkeypatch.delenv(var, raising=False)
    s = Settings()
    assert s.data_dir == tmp_path / "modelport-data"
    assert s.resolved_database_url == f"sqlite:///{tmp_path / 'modelport-data' / 'registry.db'}"
    assert s.max_upload_bytes == 2 * 1024**3
    assert s.allow_pickle is False
    assert s.job_timeout_s == 600
    assert s.job_memory_mb == 4096
    assert s.worker_concurrency == 1


def test_environment_variables_override(monkeypatch, tmp_path):
    monkeypatch.setenv("MODELPORT_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("MODELPORT_DATABASE_URL", "postgresql+psycopg://u@h/db")
    monkeypatch.setenv("MODELPORT_MAX_UPLOAD_BYTES", "1234")
    monkeypatch.setenv("MODELPORT_ALLOW_PICKLE", "true")
    monkeypatch.setenv("MODELPORT_JOB_TIMEOUT_S", "60")
    s = Settings()
    assert (s.data_dir, s.resolved_database_url) == (tmp_path, "postgresql+psycopg://u@h/db")
    assert (s.max_upload_bytes, s.allow_pickle, s.job_timeout_s) == (1234, True, 60)


@pytest.mark.parametrize("field", ["max_upload_bytes", "job_timeout_s", "worker_concurrency"])
def test_nonsense_values_are_refused(field):
    with pytest.raises(ValidationError):
        Settings(**{field: -1})


def test_importing_registry_and_api_builds_no_settings_or_engine(tmp_path):
    code = (
        "import gc, sqlalchemy, registry, api.app;"
        "from registry import get_settings;"
        "assert get_settings.cache_info().currsize == 0;"
        "assert not [o for o in gc.get_objects() if isinstance(o, sqlalchemy.engine.Engine)]"
    )
    root = Path(__file__).resolve().parents[2]
    subprocess.run(
        [sys.executable, "-c", code], check=True, cwd=tmp_path, env={"PYTHONPATH": str(root)}
    )

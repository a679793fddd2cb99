"""A malicious pickle never runs with allow_pickle off, and with it on runs only inside
the worker process (never in the process that detects the upload)."""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

import pytest

from converters import REQUEST_FILE, ServerPolicy, WorkerRequest, detect_framework
from runtime.errors import UnsupportedMediaType
from tests.frameworks.test_cases import run_worker

pytest.importorskip("sklearn")


class _Payload:
    """Unpickling it writes the unpickling process's pid and MODELPORT_* names to a file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        code = (
            "import json, os; "
            f"open({str(self.marker)!r}, 'w').write(json.dumps("
            "{'pid': os.getpid(), "
            "'env': sorted(k for k in os.environ if k.startswith('MODELPORT_'))}))"
        )
        return (exec, (code,))


def _evil_pickle(folder: Path) -> tuple[Path, Path]:
    marker = folder / "pwned.json"
    path = folder / "input" / "model.pkl"
    path.parent.mkdir(parents=True)
    path.write_bytes(pickle.dumps(_Payload(marker)))
    return path, marker


def _request(job: Path, allow_pickle: bool, framework: str | None = None) -> None:
    request = WorkerRequest(
        source="input/model.pkl",
        filename="model.pkl",
        framework=framework,
        policy=ServerPolicy(allow_pickle=allow_pickle),
    )
    (job / REQUEST_FILE).write_text(request.to_json())


def test_pickles_off_nothing_runs_anywhere(tmp_path: Path) -> None:
    path, marker = _evil_pickle(tmp_path)
    with pytest.raises(UnsupportedMediaType, match="skops"):
        detect_framework(path, "model.pkl")
    _request(tmp_path, allow_pickle=False)
    proc = run_worker(tmp_path)
    assert proc.returncode == 0, proc.stderr
    result = json.loads((tmp_path / "result.json").read_text())
    assert "skops" in result["error"] and result["artifacts"] == []
    # declared as sklearn, the loader refuses it as well
    _request(tmp_path, allow_pickle=False, framework="sklearn")
    run_worker(tmp_path)
    assert "pickle" in json.loads((tmp_path / "result.json").read_text())["error"]
    assert not marker.exists()


def test_pickles_on_run_only_inside_the_worker(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("MODELPORT_DATABASE_URL", "postgresql://secret@db/registry")
    path, marker = _evil_pickle(tmp_path)
    assert detect_framework(path, "model.pkl", allow_pickle=True) == "sklearn"
    assert not marker.exists(), "detection must never unpickle"
    _request(tmp_path, allow_pickle=True)
    proc = run_worker(tmp_path)
    assert proc.returncode == 0, proc.stderr
    seen = json.loads(marker.read_text())
    assert seen["pid"] != os.getpid()
    assert seen["env"] == [], "the worker must hold no MODELPORT_* settings (credentials)"
    result = json.loads((tmp_path / "result.json").read_text())
    assert "not a scikit-learn estimator" in result["error"]

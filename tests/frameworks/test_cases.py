"""The generic case runner: every case of every tests/frameworks/<fw>.py goes through
detection -> the real worker subprocess -> result.json -> ``runtime.load_file`` on each
passed artifact, compared with the source model's own outputs in this process.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from converters import REQUEST_FILE, ServerPolicy, WorkerRequest
from converters._domain import in_domain_inputs
from tests.frameworks.conftest import all_cases, case_modules, import_or_skip, libraries_for

ROOT = Path(__file__).resolve().parents[2]
WORKER_TIMEOUT_S = 600


def _params():
    out = []
    for case in all_cases():
        marks = [pytest.mark.slow] if case.slow else []
        out.append(pytest.param(case, id=case.id, marks=marks))
    return out


def write_sample(sample: dict[str, np.ndarray], folder: Path) -> Path:
    """``.npz`` for numeric inputs; ``.parquet`` when a column holds strings."""
    if any(np.asarray(v).dtype == object for v in sample.values()):
        import pandas as pd

        path = folder / "sample.parquet"
        pd.DataFrame({k: np.asarray(v).reshape(-1) for k, v in sample.items()}).to_parquet(path)
        return path
    path = folder / "sample.npz"
    np.savez(path, **sample)
    return path


def run_worker(job_dir: Path, timeout: float = WORKER_TIMEOUT_S) -> subprocess.CompletedProcess:
    """Run ``python -m converters.worker`` the way the registry does: fresh process,
    no MODELPORT_* variables in its environment."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELPORT_")}
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.run(
        [sys.executable, "-m", "converters.worker", str(job_dir)],
        cwd=str(ROOT),
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def prepare_job(case, job_dir: Path) -> tuple[Path, WorkerRequest]:
    """Build the case's upload (and sample) in ``job_dir``; the request leaves framework open."""
    (job_dir / "input").mkdir(parents=True)
    source = case.build(job_dir / "input")
    sample = None
    if case.sample is not None:
        sample = write_sample(case.sample(), job_dir / "input").relative_to(job_dir).as_posix()
    request = WorkerRequest(
        source=source.relative_to(job_dir).as_posix(), filename=source.name, sample=sample
    )
    return source, request


def _compare(name: str, ref: np.ndarray, got: np.ndarray) -> None:
    got = np.asarray(got)
    assert got.shape == ref.shape, f"{name}: shape {got.shape} != {ref.shape}"
    if ref.dtype.kind in "biuOUS":
        np.testing.assert_array_equal(got.astype(str), ref.astype(str), err_msg=name)
    else:
        np.testing.assert_allclose(got, ref, atol=1e-4, rtol=1e-3, err_msg=name)


@pytest.mark.parametrize("case", _params())
def test_case_converts_and_matches_source(case, tmp_path: Path, selected_frameworks) -> None:
    if selected_frameworks and case.framework not in selected_frameworks:
        pytest.skip(f"--framework excludes {case.framework}")
    for lib in libraries_for(case.framework):
        import_or_skip(lib)
    import runtime
    from converters import applicable_targets, detect_framework, get_converter, get_framework

    job = tmp_path / "job"
    source_path, request = prepare_job(case, job)
    assert detect_framework(source_path, source_path.name) == case.framework
    request = dataclasses.replace(request, framework=case.framework)
    (job / REQUEST_FILE).write_text(request.to_json())

    proc = run_worker(job)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads((job / "result.json").read_text())
    assert result["error"] is None, result["error"]
    assert result["framework"] == case.framework

    statuses = {a["format"]: a["status"] for a in result["artifacts"]}
    assert sorted(statuses) == sorted(applicable_targets(case.framework))
    for fmt, status in statuses.items():
        entry = next(a for a in result["artifacts"] if a["format"] == fmt)
        expected = case.expect.get(fmt, "passed")
        assert status == expected, f"{fmt}: {status} ({entry['error']})"
        if status in ("passed", "weak", "failed"):
            assert entry["validation"]["sample"]["rows"] >= 32
            assert entry["converter"]["name"] and entry["converter"]["versions"]

    source = get_framework(case.framework).load(source_path, source_path.name, {}, ServerPolicy())
    # fresh in-domain rows (another seed than validation's): what the artifact is for
    inputs, _ = in_domain_inputs(source, None, seed=7)
    reference = source.predict(inputs)
    for entry in result["artifacts"]:
        if entry["status"] not in ("passed", "weak"):
            continue
        model = runtime.load_file(job / entry["path"], format=entry["format"])
        converter = get_converter(case.framework, entry["format"])
        adapt = getattr(converter, "adapt_inputs", None)
        got = model.run(adapt(source, inputs) if adapt else inputs)
        lacking = set(entry["validation"]["missing_outputs"])  # reported, and so skipped
        for name, ref in reference.items():
            if name not in lacking:
                _compare(f"{case.id}/{entry['format']}/{name}", np.asarray(ref), got[name])


def test_every_registered_pair_has_a_case() -> None:
    """A registered (framework, target) pair with no case that expects it to work fails."""
    from converters import registered_converters

    covered = {
        (case.framework, fmt)
        for module in case_modules().values()
        for case in module.CASES
        for fmt, status in case.expect.items()
        if status in ("passed", "weak")
    }
    missing = [f"{f}->{t}" for f, t in registered_converters() if (f, t) not in covered]
    assert not missing, f"registered conversions without a passing test case: {missing}"


def test_case_ids_are_unique() -> None:
    ids = [case.id for case in all_cases()]
    assert len(ids) == len(set(ids))


def test_require_all_frameworks_turns_a_skip_into_a_failure(monkeypatch) -> None:
    monkeypatch.setenv("MODELPORT_REQUIRE_ALL_FRAMEWORKS", "1")
    with pytest.raises(pytest.fail.Exception, match="MODELPORT_REQUIRE_ALL_FRAMEWORKS"):
        import_or_skip("modelport_library_that_does_not_exist")
    monkeypatch.setenv("MODELPORT_REQUIRE_ALL_FRAMEWORKS", "0")
    with pytest.raises(pytest.skip.Exception):
        import_or_skip("modelport_library_that_does_not_exist")

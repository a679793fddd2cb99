"""Which artifact load() serves, and the cache's size setting (pure functions, no I/O)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from runtime import VersionDoc
from runtime._cache import parse_size
from runtime._load import _choose, usable_artifacts
from runtime.errors import ArtifactNotFound, Conflict
from tests.conftest import ROOT
from tests.runtime.test_wire import ARTIFACT, VERSION


def _doc(*arts: tuple[str, str], status: str = "ready") -> VersionDoc:
    return VersionDoc.from_json(
        {
            **VERSION,
            "name": "m",
            "status": status,
            "artifacts": [
                {**ARTIFACT, "format": f, "status": s, "sha256": "0" * 64} for f, s in arts
            ],
        }
    )


def test_onnx_then_pmml_then_savedmodel():
    doc = _doc(("savedmodel", "passed"), ("pmml", "passed"), ("onnx", "weak"), ("source", "stored"))
    assert [a.format for a in usable_artifacts(doc)] == ["onnx", "pmml", "savedmodel"]
    assert _choose(doc, None, False).format == "onnx"


def test_failed_artifacts_only_when_allowed():
    doc = _doc(("onnx", "failed"), ("pmml", "passed"))
    assert _choose(doc, None, False).format == "pmml"
    assert _choose(doc, "onnx", True).format == "onnx"
    with pytest.raises(
        ArtifactNotFound,
        match=r"no usable 'onnx' artifact; its artifacts: onnx \(failed\), pmml \(passed\)",
    ):
        _choose(doc, "onnx", False)


@pytest.mark.parametrize("status", ["error", "skipped", "pending"])
def test_nothing_servable_lists_what_exists(status):
    with pytest.raises(
        ArtifactNotFound,
        match=rf"no artifact that passed validation; its artifacts: onnx \({status}\)",
    ):
        _choose(_doc(("onnx", status), status="failed"), None, False)


def test_a_version_still_converting_is_a_conflict():
    with pytest.raises(Conflict, match="still converting; wait"):
        _choose(_doc(("onnx", "pending"), status="converting"), None, False)


def test_missing_backends_name_the_extra_and_the_formats():
    code = (
        "import sys; sys.modules['pypmml'] = None; sys.modules['tensorflow'] = None\n"
        "from runtime._load import _choose\n"
        "from tests.runtime.test_choice import _doc\n"
        "doc = _doc(('pmml', 'passed'), ('savedmodel', 'passed'))\n"
        "try:\n    _choose(doc, None, False)\nexcept Exception as exc:\n"
        "    print(type(exc).__name__, exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert "MissingDependency" in out.stdout, out.stderr
    assert "pmml (passed), savedmodel (passed)" in out.stdout
    assert "pip install 'modelport[pmml]'" in out.stdout


def test_a_missing_backend_is_skipped_for_the_next_format():
    code = (
        "import sys; sys.modules['pypmml'] = None\n"
        "from runtime._load import _choose\n"
        "from tests.runtime.test_choice import _doc\n"
        "doc = _doc(('pmml', 'passed'), ('savedmodel', 'passed'))\n"
        "print(_choose(doc, None, False).format)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.stdout.strip() == "savedmodel", out.stderr


@pytest.mark.parametrize(
    ("text", "size"),
    [("1024", 1024), ("2K", 2048), ("1.5M", 3 << 19), ("2GiB", 2 << 30), ("", None), (None, None)],
)
def test_cache_sizes_parse(text, size):
    assert parse_size(text) == size


def test_bad_cache_size_says_how_to_write_it():
    with pytest.raises(ValueError, match="MODELPORT_CACHE_MAX=2G"):
        parse_size("lots")


def test_unknown_verify_mode_is_refused(tmp_path):
    from runtime._cache import Cache

    cache = Cache(tmp_path)
    sha = "a" * 64
    cache.blob_path(sha).parent.mkdir(parents=True)
    cache.blob_path(sha).write_bytes(b"x")
    with pytest.raises(ValueError, match="choose one of full, stat"):
        cache.verified(sha, "never")


def test_stat_mode_trusts_an_unchanged_file_and_rehashes_a_changed_one(tmp_path):
    import hashlib

    from runtime._cache import Cache

    cache = Cache(tmp_path)
    data = b"model bytes" * 100
    sha = hashlib.sha256(data).hexdigest()
    path = cache.store(sha, [data])
    assert cache.verified(sha, "stat") == path
    path.write_bytes(data[:-1] + b"!")
    with pytest.warns(RuntimeWarning, match="corrupt"):
        assert cache.verified(sha, "stat") is None
    assert not path.exists()

"""The SDK against a real registry over real HTTP (SQLite and PostgreSQL)."""

from __future__ import annotations

import getpass
import json

import httpx
import numpy as np
import onnxruntime as ort
import pytest

from clients import (
    MANIFEST_NAME,
    JobInfo,
    ModelInfo,
    PushResult,
    Registry,
    ResourceNotFound,
    VersionInfo,
)
from runtime.errors import (
    AliasNotFound,
    ArtifactNotFound,
    IntegrityError,
    InvalidModelRef,
    InvalidUpload,
    ModelNotFound,
    VersionNotFound,
)
from tests.clients.conftest import WAIT_S, sha256_of
from tests.factories.onnx_models import linear_model


def test_pushed_onnx_becomes_ready_with_its_signature(ready):
    info = ready.info
    assert info.version == 1
    assert info.framework == "onnx"
    assert info.description == "a linear model"
    assert info.tags == {"team": "t"}
    assert info.signature.input_names == ["x"]
    assert info.signature.output_names == ["y"]
    onnx = info.artifact("onnx")
    assert onnx is not None and onnx.servable
    assert info.source.sha256 == sha256_of(ready.file)
    assert info.created_by == getpass.getuser()


def test_push_without_wait_returns_the_job(reg, onnx_file, unique_name):
    result = reg.push(onnx_file, unique_name)
    assert isinstance(result, PushResult)
    assert (result.name, result.version) == (unique_name, 1)
    assert result.job_id
    job = reg.job(result.job_id)
    assert isinstance(job, JobInfo)
    assert (job.name, job.version) == (unique_name, 1)
    final = reg.wait(unique_name, 1, timeout=WAIT_S)
    assert final.status == "ready"
    assert reg.job(result.job_id).status == "succeeded"


def test_show_by_number_latest_and_alias(reg, ready):
    reg.set_alias(ready.name, "prod", 1)
    for ref in (f"{ready.name}:1", ready.name, f"{ready.name}:latest", f"{ready.name}@prod"):
        info = reg.show(ref)
        assert isinstance(info, VersionInfo)
        assert (info.name, info.version) == (ready.name, 1), ref
    assert "prod" in reg.show(f"{ready.name}:1").aliases


def test_versions_and_models_list_every_upload(reg, onnx_file, unique_name):
    first = reg.push(onnx_file, unique_name)
    second = reg.push(linear_model(onnx_file.with_name("b.onnx"), seed=3), unique_name)
    assert (first.version, second.version) == (1, 2)
    assert sorted(v.version for v in reg.versions(unique_name)) == [1, 2]
    found = [m for m in reg.models(q=unique_name) if m.name == unique_name]
    assert len(found) == 1 and isinstance(found[0], ModelInfo)
    assert found[0].version_count == 2
    assert found[0].latest_version == 2
    model = reg.model(unique_name)
    assert model.name == unique_name
    reg.wait(unique_name, 2, timeout=WAIT_S)


def test_pull_to_a_folder_verifies_and_writes_a_manifest(reg, ready, tmp_path):
    seen = []
    path = reg.pull(f"{ready.name}:1", dest=tmp_path / "out", progress=lambda d, t: seen.append(d))
    onnx = ready.info.artifact("onnx")
    assert path.parent == tmp_path / "out"
    assert path.name == f"{ready.name}-1.onnx"
    assert sha256_of(path) == onnx.sha256
    assert seen[-1] == path.stat().st_size
    manifest = json.loads((path.parent / MANIFEST_NAME).read_text())
    assert manifest["name"] == ready.name
    assert manifest["version"] == 1
    assert manifest["format"] == "onnx"
    assert manifest["sha256"] == onnx.sha256
    assert manifest["filename"] == path.name
    assert manifest["framework"] == "onnx"
    assert [t["name"] for t in manifest["signature"]["inputs"]] == ["x"]
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".part")]


def test_pulled_model_computes_what_the_upload_computes(reg, ready, tmp_path):
    path = reg.pull(ready.name, dest=tmp_path)
    x = np.random.default_rng(0).standard_normal((5, 4)).astype(np.float32)
    original = ort.InferenceSession(str(ready.file)).run(None, {"x": x})[0]
    pulled = ort.InferenceSession(str(path)).run(None, {"x": x})[0]
    np.testing.assert_array_equal(pulled, original)


def test_pull_to_a_file_path_and_the_source_format(reg, ready, tmp_path):
    target = tmp_path / "exact.onnx"
    assert reg.pull(ready.name, dest=target) == target
    assert not (tmp_path / MANIFEST_NAME).exists()
    source = reg.pull(f"{ready.name}:1", format="source", dest=tmp_path / "src")
    assert source.read_bytes() == ready.file.read_bytes()


def test_pull_of_a_missing_format_names_the_available_ones(reg, ready, tmp_path):
    with pytest.raises(ArtifactNotFound, match="available: .*onnx"):
        reg.pull(ready.name, format="pmml", dest=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_aliases_set_move_and_delete(reg, onnx_file, unique_name):
    reg.push(onnx_file, unique_name)
    reg.push(onnx_file, unique_name)
    assert reg.set_alias(unique_name, "staging", 1).version == 1
    assert reg.set_alias(unique_name, "staging", 2).version == 2
    assert reg.show(f"{unique_name}@staging").version == 2
    assert reg.model(unique_name).aliases == {"staging": 2}
    reg.delete_alias(unique_name, "staging")
    with pytest.raises(AliasNotFound) as info:
        reg.show(f"{unique_name}@staging")
    assert info.value.problem["status"] == 404
    with pytest.raises(AliasNotFound):
        reg.delete_alias(unique_name, "staging")
    reg.wait(unique_name, 2, timeout=WAIT_S)


def test_alias_to_a_missing_version_is_version_not_found(reg, ready):
    with pytest.raises(VersionNotFound):
        reg.set_alias(ready.name, "later", 99)


def test_unknown_model_and_version_map_to_their_classes(reg, ready, unique_name):
    with pytest.raises(ModelNotFound) as info:
        reg.show(unique_name)
    assert info.value.problem["type"] == "/problems/ModelNotFound"
    assert unique_name in str(info.value)
    with pytest.raises(ModelNotFound):
        reg.model(unique_name)
    with pytest.raises(VersionNotFound) as info:
        reg.show(f"{ready.name}:42")
    assert info.value.status == 404


def test_unknown_job_is_a_not_found_error(reg):
    with pytest.raises(ResourceNotFound) as info:
        reg.job("0" * 32)
    assert isinstance(info.value, LookupError)


def test_a_file_that_is_not_a_model_is_refused_before_any_version(reg, tmp_path, unique_name):
    bad = tmp_path / "model.onnx"
    bad.write_bytes(b"this is not a protobuf")
    with pytest.raises(InvalidUpload) as info:
        reg.push(bad, unique_name)
    assert info.value.status in (415, 422)
    assert info.value.problem["detail"]
    with pytest.raises(ModelNotFound):
        reg.show(unique_name)


def test_bad_names_are_refused_before_any_request(reg, onnx_file):
    with pytest.raises(InvalidModelRef, match="invalid model name"):
        reg.push(onnx_file, "../etc")
    with pytest.raises(InvalidModelRef, match="latest"):
        reg.set_alias("m", "latest", 1)
    with pytest.raises(InvalidModelRef):
        reg.show("m:abc")


def test_token_and_injected_client(live_registry, ready):
    sent = []
    with httpx.Client(base_url=live_registry.url, event_hooks={"request": [sent.append]}) as client:
        reg = Registry(token="s3cret", client=client)
        assert reg.url == live_registry.url
        assert reg.show(ready.name).version == 1
        reg.close()
        assert not client.is_closed  # an injected client belongs to the caller
    assert sent[0].headers["authorization"] == "Bearer s3cret"


def test_url_and_token_default_from_the_environment(monkeypatch, live_registry, ready):
    monkeypatch.setenv("MODELPORT_URL", live_registry.url)
    monkeypatch.setenv("MODELPORT_TOKEN", "tok")
    with Registry() as reg:
        assert (reg.url, reg.token) == (live_registry.url, "tok")
        assert reg.model(ready.name).latest_version == 1


def test_upload_progress_reaches_the_file_size(reg, onnx_file, unique_name):
    seen = []
    reg.push(onnx_file, unique_name, progress=lambda d, t: seen.append((d, t)))
    size = onnx_file.stat().st_size
    assert seen[0] == (0, size)
    assert seen[-1] == (size, size)
    reg.wait(unique_name, 1, timeout=WAIT_S)


def test_runtime_loads_a_pulled_folder(reg, ready, tmp_path):
    import runtime

    reg.pull(f"{ready.name}:1", dest=tmp_path / "pulled")
    model = runtime.load(tmp_path / "pulled")
    x = np.random.default_rng(1).standard_normal((3, 4)).astype(np.float32)
    expected = ort.InferenceSession(str(ready.file)).run(None, {"x": x})[0]
    np.testing.assert_array_equal(model.predict(x), expected)


def test_a_corrupted_download_is_refused_and_not_kept(reg, live_registry, tmp_path, unique_name):
    """Streamed by the API or served by the object store's presigned URL alike."""
    import uuid

    model = linear_model(tmp_path / "m.onnx", seed=uuid.uuid4().int % 2**31)  # unique bytes
    reg.push(model, unique_name, wait=True, timeout=WAIT_S)
    sha = reg.show(unique_name).artifact("onnx").sha256
    with live_registry.client() as http:
        url = f"/api/v1/models/{unique_name}/versions/1/artifacts/onnx?redirect=false"
        data = bytearray(http.get(url).content)
    data[-1] ^= 0xFF  # same size, different bytes: only the hash can tell
    live_registry.overwrite_blob(sha, bytes(data))
    out = tmp_path / "out"
    with pytest.raises(IntegrityError, match=sha):
        reg.pull(unique_name, dest=out)
    assert list(out.iterdir()) == []

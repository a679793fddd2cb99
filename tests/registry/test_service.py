"""The registry service on both backends: versions, refs, aliases, search, atomicity."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from sqlalchemy import func, select

from registry._orm import JobRow, ModelRow, VersionRow
from runtime import ModelRef
from runtime.errors import (
    AliasNotFound,
    ArtifactNotFound,
    InvalidModelRef,
    InvalidUpload,
    ModelNotFound,
    UnsupportedFormat,
    UnsupportedMediaType,
    VersionNotFound,
)
from tests.factories.onnx_models import linear_model
from tests.registry.conftest import stored_files


@pytest.fixture
def onnx_bytes(tmp_path: Path) -> bytes:
    return linear_model(tmp_path / "m.onnx").read_bytes()


def push(registry, name, data, filename="m.onnx", **kw):
    return registry.create_version(name, io.BytesIO(data), filename, **kw)


def _count(registry, table) -> int:
    with registry.db.read() as s:
        return s.scalar(select(func.count()).select_from(table))


def test_versions_are_numbered_per_model(registry, onnx_bytes):
    assert [push(registry, "a", onnx_bytes).version for _ in range(3)] == [1, 2, 3]
    assert push(registry, "b", onnx_bytes).version == 1
    created = push(registry, "a", onnx_bytes, description="d", tags={"team": "x"})
    assert (created.name, created.version, created.status) == ("a", 4, "pending")
    v = registry.get_version(ModelRef("a", version=4))
    assert v.framework == "onnx" and v.tags == {"team": "x"} and v.job_id == created.job_id
    assert [a.format for a in v.artifacts] == ["source"]
    assert v.artifacts[0].status == "stored"
    assert v.source.size == len(onnx_bytes)


def test_refs_resolve_numbers_latest_and_aliases(registry, onnx_bytes):
    for _ in range(3):
        push(registry, "m", onnx_bytes)
    assert registry.get_version(ModelRef.at("m", "latest")).version == 3
    assert registry.set_alias("m", "prod", 2).version == 2
    assert registry.get_version(ModelRef.at("m", "prod")).version == 2
    assert registry.set_alias("m", "prod", 1).version == 1  # moving an alias
    assert registry.get_version(ModelRef.at("m", "prod")).aliases == ("prod",)
    assert registry.get_model("m").aliases == {"prod": 1}
    registry.delete_alias("m", "prod")
    with pytest.raises(AliasNotFound):
        registry.get_version(ModelRef.at("m", "prod"))


@pytest.mark.parametrize(
    ("ref", "error"),
    [
        ("9", VersionNotFound),
        ("0", VersionNotFound),
        ("nope", AliasNotFound),
        ("-1", InvalidModelRef),
    ],
)
def test_unknown_refs_raise(registry, onnx_bytes, ref, error):
    push(registry, "m", onnx_bytes)
    with pytest.raises(error):
        registry.get_version(ModelRef.at("m", str(ref)))


@pytest.mark.parametrize("alias", ["latest", "3", "-x", ""])
def test_bad_aliases_are_refused(registry, onnx_bytes, alias):
    push(registry, "m", onnx_bytes)
    with pytest.raises(InvalidModelRef):
        registry.set_alias("m", alias, 1)


def test_unknown_model_raises(registry):
    with pytest.raises(ModelNotFound):
        registry.get_model("ghost")
    with pytest.raises(ModelNotFound):
        registry.list_versions("ghost")


def test_search_and_cursor_pagination(registry, onnx_bytes):
    for i in range(5):
        push(registry, f"clf-{i}", onnx_bytes)
    push(registry, "other", onnx_bytes, description="Fraud detector")
    push(registry, "tagged", onnx_bytes, tags={"domain": "fraud"})
    names, cursor = [], None
    while True:
        page = registry.list_models(q="clf", limit=2, cursor=cursor)
        names += [m.name for m in page.items]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert names == [f"clf-{i}" for i in range(5)]
    assert [m.name for m in registry.list_models(q="FRAUD").items] == ["other", "tagged"]
    assert registry.list_models(q="100%").items == []
    model = registry.get_model("clf-0")
    assert (model.latest_version, model.version_count) == (1, 1)


def test_versions_page_newest_first(registry, onnx_bytes):
    for _ in range(5):
        push(registry, "m", onnx_bytes)
    first = registry.list_versions("m", limit=3)
    assert [v.version for v in first.items] == [5, 4, 3]
    rest = registry.list_versions("m", limit=3, cursor=first.next_cursor)
    assert [v.version for v in rest.items] == [2, 1] and rest.next_cursor is None
    with pytest.raises(InvalidUpload, match="cursor"):
        registry.list_versions("m", cursor="garbage!")


@pytest.mark.parametrize(
    ("data", "filename", "kw", "error"),
    [
        (b"not a model", "m.onnx", {}, InvalidUpload),
        (b"", "m.onnx", {}, InvalidUpload),
        (b"\x80\x04\x95\x05\x00\x00\x00\x00\x00\x00\x00]\x94.", "m.pkl", {}, UnsupportedMediaType),
        (None, "m.onnx", {"framework": "sklearn"}, InvalidUpload),
        (None, "m.onnx", {"targets": ["pmml"]}, UnsupportedFormat),
        (None, "m.onnx", {"tags": {"a": 1}}, InvalidUpload),
        (None, "m.onnx", {"tolerance": {"atol": float("nan")}}, InvalidUpload),
        (None, "", {}, InvalidUpload),
    ],
)
def test_refused_uploads_leave_nothing_behind(registry, onnx_bytes, data, filename, kw, error):
    with pytest.raises(error):
        push(registry, "m", onnx_bytes if data is None else data, filename, **kw)
    assert _count(registry, ModelRow) == 0
    assert _count(registry, VersionRow) == 0
    assert stored_files(registry.store) == []


def test_bad_sample_is_refused(registry, onnx_bytes):
    with pytest.raises(InvalidUpload, match="npy"):
        push(registry, "m", onnx_bytes, sample=io.BytesIO(b"1,2,3"), sample_filename="x.csv")
    assert _count(registry, VersionRow) == 0


def test_invalid_model_name_is_refused(registry, onnx_bytes):
    with pytest.raises(InvalidModelRef):
        push(registry, "../etc", onnx_bytes)


def test_a_failing_transaction_leaves_no_version(registry, onnx_bytes, monkeypatch):
    push(registry, "m", onnx_bytes)

    def boom(*a, **k):
        raise RuntimeError("database went away")

    monkeypatch.setattr(JobRow, "__init__", boom)
    with pytest.raises(RuntimeError):
        push(registry, "m", onnx_bytes)
    monkeypatch.undo()
    assert _count(registry, VersionRow) == 1
    assert push(registry, "m", onnx_bytes).version == 2  # no gap


def test_open_artifact_streams_source_bytes(registry, onnx_bytes):
    push(registry, "m", onnx_bytes, filename="weird name.onnx")
    info, fh = registry.open_artifact(ModelRef.at("m", "1"), "source")
    with fh:
        assert fh.read() == onnx_bytes
    assert info.filename == "weird name.onnx"
    with pytest.raises(ArtifactNotFound, match="available: source"):
        registry.open_artifact(ModelRef.at("m", "1"), "onnx")
    with pytest.raises(ArtifactNotFound, match="format"):
        registry.open_artifact(ModelRef.at("m", "1"), "zip")


def test_unreachable_database_raises_registry_unavailable(tmp_path):
    from registry import Registry, Settings
    from runtime.errors import RegistryUnavailable

    settings = Settings(
        data_dir=tmp_path, database_url="postgresql+psycopg://postgres@127.0.0.1:1/nothing"
    )
    reg = Registry(settings)
    try:
        with pytest.raises(RegistryUnavailable, match="retry"):
            reg.get_model("m")
        with pytest.raises(RegistryUnavailable):
            reg.check_ready()
    finally:
        reg.close()


@pytest.mark.parametrize("targets", [None, [], ["", " "]])
def test_no_or_only_blank_targets_mean_every_applicable_target(registry, onnx_bytes, targets):
    created = push(registry, "m", onnx_bytes, targets=targets)
    assert registry.get_version(ModelRef("m", version=created.version)).targets == ("onnx",)


def test_requested_targets_are_trimmed_lowercased_and_deduplicated(registry, onnx_bytes):
    created = push(registry, "m", onnx_bytes, targets=[" ONNX", "onnx ", ""])
    assert registry.get_version(ModelRef("m", version=created.version)).targets == ("onnx",)

"""The plug-in table that loaders, frameworks, converters and server commands share."""

from __future__ import annotations

import logging
import sys
import uuid
from pathlib import Path

import pytest

from runtime.errors import UnsupportedFormat
from runtime.plugins import BrokenPlugin, PluginTable, RegistrationError


def _install(site: Path, group: str, lines: list[str], dist: str = "acme-plugin") -> None:
    """A distribution's dist-info with ``entry_points.txt``, as pip would leave it."""
    info = site / f"{dist.replace('-', '_')}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[{group}]\n" + "\n".join(lines) + "\n")


@pytest.fixture
def group(tmp_path, monkeypatch) -> str:
    """A fresh entry-point group whose distributions live under tmp_path/site."""
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    return f"modelport.test-{uuid.uuid4().hex[:8]}"


def test_names_list_builtins_then_entry_points_then_registrations(tmp_path, group):
    _install(tmp_path / "site", group, ["csv = acme_csv:CsvLoader"])
    table: PluginTable[str] = PluginTable("loader", group, {"onnx": "runtime._onnx:OnnxBackend"})
    table.register("parquet", "acme_parquet:Loader")
    assert table.names() == ["onnx", "csv", "parquet"]
    assert table.targets() == {
        "onnx": "runtime._onnx:OnnxBackend",
        "csv": "acme_csv:CsvLoader",
        "parquet": "acme_parquet:Loader",
    }
    assert table.entry("csv") is not None
    assert table.entry("csv").origin == "entry point of acme-plugin 1.0"  # type: ignore[union-attr]
    assert table.entry("nothing") is None
    assert "csv" in table and "nothing" not in table


def test_overwriting_is_refused_and_names_the_holder(tmp_path, group):
    _install(tmp_path / "site", group, ["csv = acme_csv:CsvLoader"])
    table: PluginTable[str] = PluginTable("loader", group, {"onnx": "runtime._onnx:OnnxBackend"})
    with pytest.raises(RegistrationError, match=r"'onnx' is already registered \(built in"):
        table.register("onnx", "elsewhere:Loader")
    with pytest.raises(RegistrationError, match="entry point of acme-plugin 1.0: acme_csv"):
        table.register("csv", "elsewhere:Loader")
    with pytest.raises(RegistrationError, match="not 'module:attr'"):
        table.register("tsv", "no colon here")
    assert table.targets()["onnx"] == "runtime._onnx:OnnxBackend"


def test_a_broken_entry_point_is_left_out_and_reported(tmp_path, group, caplog):
    _install(
        tmp_path / "site",
        group,
        ["onnx = acme_onnx:Faster", "bad = not a target", "fine = acme_fine:Loader"],
    )
    table: PluginTable[str] = PluginTable("loader", group, {"onnx": "runtime._onnx:OnnxBackend"})
    with caplog.at_level(logging.WARNING, logger="modelport.plugins"):
        assert table.names() == ["onnx", "fine"]  # the others do not stop this one
    broken = table.broken()
    assert len(broken) == 2
    assert any("'onnx'" in m and "acme-plugin 1.0" in m and "name is taken" in m for m in broken)
    assert any("'bad'" in m and "not 'module:attr'" in m for m in broken)
    assert sorted(r.getMessage() for r in caplog.records) == sorted(broken)
    with pytest.raises(BrokenPlugin, match="'bad' .*acme-plugin 1.0.* is left out"):
        table.resolve("bad")
    assert table.targets()["onnx"] == "runtime._onnx:OnnxBackend"  # built-ins stay


def test_a_plugin_module_that_does_not_import_names_its_distribution(tmp_path, group):
    _install(tmp_path / "site", group, ["gone = acme_not_installed:Loader"])
    table: PluginTable[str] = PluginTable("loader", group, {})
    with pytest.raises(BrokenPlugin, match=r"loader 'gone' \(entry point of acme-plugin 1.0"):
        table.resolve("gone")
    mapped = table.resolve
    with pytest.raises(UnsupportedFormat, match="acme_not_installed"):
        mapped("gone", on_import_error=lambda module, exc, origin: UnsupportedFormat(module))


def test_entry_points_are_read_once(tmp_path, group):
    table: PluginTable[str] = PluginTable("loader", group, {})
    assert table.names() == []
    _install(tmp_path / "site", group, ["late = acme_late:Loader"])  # installed afterwards
    assert table.names() == []


def test_resolve_imports_the_target(group):
    table: PluginTable[str] = PluginTable("loader", group, {"onnx": "runtime._onnx:OnnxBackend"})
    from runtime._onnx import OnnxBackend

    assert table.resolve("onnx") is OnnxBackend
    assert table.resolve("unknown") is None
    table.register("path", "pathlib:Path")
    assert table.resolve("path") is Path
    table.register("nothing", "pathlib:NoSuchThing")
    with pytest.raises(BrokenPlugin, match="pathlib has no 'NoSuchThing'"):
        table.resolve("nothing")
    assert "runtime._onnx" in sys.modules

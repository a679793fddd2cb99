"""Safe archive extraction: what a SavedModel upload may and may not contain."""

from __future__ import annotations

import io
import stat
import tarfile
import zipfile
from pathlib import Path

import pytest

from converters._archive import (
    ArchiveLimits,
    archive_kind,
    extract_archive,
    find_saved_model_root,
    list_members,
)
from runtime.errors import InvalidUpload


def _zip(path: Path, members: dict[str, bytes], compression=zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(path, "w", compression) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def _tar(path: Path, members: list[tarfile.TarInfo], data: dict[str, bytes] | None = None) -> Path:
    data = data or {}
    with tarfile.open(path, "w:gz") as tf:
        for info in members:
            payload = data.get(info.name)
            if payload is not None:
                info.size = len(payload)
                tf.addfile(info, io.BytesIO(payload))
            else:
                tf.addfile(info)
    return path


def _file(name: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = tarfile.REGTYPE
    return info


def test_zip_with_top_folder_extracts_and_finds_saved_model(tmp_path):
    archive = _zip(
        tmp_path / "m.zip",
        {"model/saved_model.pb": b"pb", "model/variables/variables.index": b"ix"},
    )
    out = extract_archive(archive, tmp_path / "out")
    assert (out / "model" / "variables" / "variables.index").read_bytes() == b"ix"
    assert find_saved_model_root(out) == out / "model"
    assert archive_kind(archive) == "zip"
    assert "model/saved_model.pb" in list_members(archive)


def test_tar_gz_at_root_extracts(tmp_path):
    archive = _tar(
        tmp_path / "m.tgz",
        [_file("saved_model.pb"), _file("variables/variables.index")],
        {"saved_model.pb": b"pb", "variables/variables.index": b"ix"},
    )
    out = extract_archive(archive, tmp_path / "out")
    assert find_saved_model_root(out) == out
    assert archive_kind(archive) == "tar"


def test_no_saved_model_is_explained(tmp_path):
    out = extract_archive(_zip(tmp_path / "m.zip", {"a/b/c.txt": b"x"}), tmp_path / "out")
    with pytest.raises(InvalidUpload, match="saved_model.pb"):
        find_saved_model_root(out)


def test_not_an_archive(tmp_path):
    path = tmp_path / "m.zip"
    path.write_bytes(b"plain text, not an archive")
    assert archive_kind(path) is None
    with pytest.raises(InvalidUpload, match="not a zip or tar"):
        extract_archive(path, tmp_path / "out")


@pytest.mark.parametrize(
    "name", ["../evil.txt", "model/../../evil.txt", "/etc/evil.txt", "C:/evil.txt", "a\\..\\b"]
)
def test_zip_slip_refused(tmp_path, name):
    archive = _zip(tmp_path / "m.zip", {"saved_model.pb": b"pb", name: b"owned"})
    with pytest.raises(InvalidUpload, match="absolute|'\\.\\.'|backslash"):
        extract_archive(archive, tmp_path / "deep" / "out")
    assert not (tmp_path / "evil.txt").exists()
    assert not (tmp_path / "deep" / "out").exists()  # no half-extracted tree is kept


@pytest.mark.parametrize("name", ["../evil.txt", "/tmp/evil.txt", "ok/../../evil.txt"])
def test_tar_slip_refused(tmp_path, name):
    archive = _tar(tmp_path / "m.tgz", [_file(name)], {name: b"owned"})
    with pytest.raises(InvalidUpload, match="absolute|'\\.\\.'"):
        extract_archive(archive, tmp_path / "out")
    assert not (tmp_path / "evil.txt").exists()


def test_zip_symlink_member_refused(tmp_path):
    path = tmp_path / "m.zip"
    with zipfile.ZipFile(path, "w") as zf:
        info = zipfile.ZipInfo("model/link")
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(info, "/etc/passwd")
    with pytest.raises(InvalidUpload, match="symbolic link"):
        extract_archive(path, tmp_path / "out")


@pytest.mark.parametrize(
    ("kind", "match"),
    [
        (tarfile.SYMTYPE, "symbolic link"),
        (tarfile.LNKTYPE, "hard link"),
        (tarfile.CHRTYPE, "device"),
        (tarfile.BLKTYPE, "device"),
        (tarfile.FIFOTYPE, "fifo"),
    ],
)
def test_tar_special_members_refused(tmp_path, kind, match):
    info = tarfile.TarInfo("model/variables")
    info.type = kind
    info.linkname = "/etc/passwd"
    archive = _tar(
        tmp_path / "m.tgz", [_file("model/saved_model.pb"), info], {"model/saved_model.pb": b"pb"}
    )
    with pytest.raises(InvalidUpload, match=match):
        extract_archive(archive, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_symlink_then_write_through_it_refused(tmp_path):
    link = tarfile.TarInfo("escape")
    link.type = tarfile.SYMTYPE
    link.linkname = str(tmp_path)
    archive = _tar(tmp_path / "m.tgz", [link, _file("escape/evil.txt")], {"escape/evil.txt": b"x"})
    with pytest.raises(InvalidUpload, match="symbolic link"):
        extract_archive(archive, tmp_path / "out")
    assert not (tmp_path / "evil.txt").exists()


def test_zip_bomb_refused_by_ratio(tmp_path):
    archive = _zip(tmp_path / "bomb.zip", {"saved_model.pb": b"\0" * (32 << 20)})
    assert archive.stat().st_size < 1 << 20
    with pytest.raises(InvalidUpload, match="compression bomb"):
        extract_archive(archive, tmp_path / "out")


def test_tar_gz_bomb_refused_while_writing(tmp_path):
    archive = _tar(
        tmp_path / "bomb.tgz", [_file("saved_model.pb")], {"saved_model.pb": b"\0" * (32 << 20)}
    )
    with pytest.raises(InvalidUpload, match="compression bomb"):
        extract_archive(archive, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_total_size_limit(tmp_path):
    archive = _zip(
        tmp_path / "m.zip", {"a.bin": b"1" * 3000, "b.bin": b"2" * 3000}, zipfile.ZIP_STORED
    )
    with pytest.raises(InvalidUpload, match="more than 5000 bytes"):
        extract_archive(archive, tmp_path / "out", ArchiveLimits(max_total_bytes=5000))


def test_member_count_limit(tmp_path):
    archive = _zip(tmp_path / "m.zip", {f"f{i}": b"x" for i in range(11)})
    with pytest.raises(InvalidUpload, match="11 members, over 10"):
        extract_archive(archive, tmp_path / "out", ArchiveLimits(max_members=10))
    tar = _tar(
        tmp_path / "m.tgz", [_file(f"f{i}") for i in range(11)], {f"f{i}": b"x" for i in range(11)}
    )
    with pytest.raises(InvalidUpload, match="more than 10 members"):
        extract_archive(tar, tmp_path / "out2", ArchiveLimits(max_members=10))


def test_duplicate_member_refused(tmp_path):
    path = tmp_path / "m.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("saved_model.pb", b"one")
        with pytest.warns(UserWarning):
            zf.writestr("saved_model.pb", b"two")
    with pytest.raises(InvalidUpload, match="appears twice"):
        extract_archive(path, tmp_path / "out")


def test_damaged_archive(tmp_path):
    good = _zip(tmp_path / "m.zip", {"saved_model.pb": b"pb" * 1000})
    data = bytearray(good.read_bytes())
    data[40:60] = b"\xff" * 20
    bad = tmp_path / "bad.zip"
    bad.write_bytes(bytes(data))
    with pytest.raises(InvalidUpload):
        extract_archive(bad, tmp_path / "out")

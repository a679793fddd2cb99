"""An interrupted pull resumes with a Range request; a bad partial file is replaced."""

from __future__ import annotations

import httpx
import pytest

from clients import Registry
from clients._download import _partial_path
from tests.clients.conftest import WAIT_S, sha256_of
from tests.factories.onnx_models import linear_model


@pytest.fixture
def big(reg, tmp_path, unique_name):
    model = linear_model(tmp_path / "big.onnx", n_in=64, n_out=128)
    info = reg.push(model, unique_name, wait=True, timeout=WAIT_S)
    return info, model


def _recording_registry(url):
    sent: list[httpx.Request] = []
    client = httpx.Client(base_url=url, event_hooks={"request": [sent.append]})
    return Registry(client=client), client, sent


@pytest.mark.parametrize("good_prefix", [True, False])
def test_pull_resumes_from_a_partial_file(live_registry, big, tmp_path, good_prefix):
    info, model = big
    art = info.artifact("onnx")
    target = tmp_path / "out" / "model.onnx"
    target.parent.mkdir()
    data = model.read_bytes()
    half = len(data) // 2
    partial = _partial_path(target, art.sha256)
    partial.write_bytes(data[:half] if good_prefix else b"\x00" * half)
    reg, client, sent = _recording_registry(live_registry.url)
    with client:
        assert reg.pull(info.ref, format="onnx", dest=target) == target
    assert sha256_of(target) == art.sha256
    assert not partial.exists()
    downloads = [r for r in sent if "/artifacts/" in r.url.path]
    assert downloads[0].headers["range"] == f"bytes={half}-"
    if good_prefix:
        assert len(downloads) == 1
    else:  # the resumed bytes hashed wrong: one fresh download without a Range
        assert len(downloads) == 2 and "range" not in downloads[1].headers


def test_a_partial_as_long_as_the_artifact_is_not_trusted(live_registry, big, tmp_path):
    info, model = big
    art = info.artifact("onnx")
    target = tmp_path / "model.onnx"
    _partial_path(target, art.sha256).write_bytes(b"\x00" * art.size)
    reg, client, sent = _recording_registry(live_registry.url)
    with client:
        reg.pull(info.ref, format="onnx", dest=target)
    assert sha256_of(target) == art.sha256
    assert all("range" not in r.headers for r in sent)


def test_a_pull_stopped_midway_leaves_no_target_and_resumes(
    live_registry, reg, tmp_path, unique_name
):
    """Ctrl-C during a pull (raised from the progress callback, between 4 MiB blocks):
    the destination holds nothing, the part file holds a prefix, the next pull resumes."""
    model = linear_model(tmp_path / "large.onnx", n_in=2048, n_out=1100)  # ~9 MB: 3 blocks
    info = reg.push(model, unique_name, targets="onnx", wait=True, timeout=WAIT_S)
    art = info.artifact("onnx")
    target = tmp_path / "out" / "model.onnx"
    target.parent.mkdir()

    def stop(done: int, total: int | None) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        reg.pull(info.ref, format="onnx", dest=target, progress=stop)
    partial = _partial_path(target, art.sha256)
    assert not target.exists()
    assert 0 < partial.stat().st_size < art.size
    reg2, client, sent = _recording_registry(live_registry.url)
    with client:
        assert reg2.pull(info.ref, format="onnx", dest=target) == target
    assert sha256_of(target) == art.sha256 and not partial.exists()
    downloads = [r for r in sent if "/artifacts/" in r.url.path]
    assert downloads[0].headers["range"].startswith("bytes=")

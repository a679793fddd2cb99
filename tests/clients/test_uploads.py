"""Uploads: size limit and refused file types map to their classes; bodies are streamed."""

from __future__ import annotations

import pickle
import tracemalloc

import pytest

from clients import Registry
from runtime.errors import InvalidUpload, ModelNotFound, PayloadTooLarge, UnsupportedMediaType
from tests.conftest import start_registry, stop_registry

LIMIT = 100_000


@pytest.fixture(scope="module")
def small_registry(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("small")
    reg = start_registry(
        tmp / "data",
        f"sqlite:///{tmp / 'registry.db'}",
        {"MODELPORT_MAX_UPLOAD_BYTES": str(LIMIT)},
    )
    yield reg
    stop_registry(reg)


def _sparse(path, size):
    with open(path, "wb") as fh:
        fh.truncate(size)
    return path


@pytest.mark.parametrize("size", [LIMIT * 2, 20_000_000])
def test_an_upload_over_the_limit_is_payload_too_large(small_registry, tmp_path, size):
    with Registry(small_registry.url) as reg:
        with pytest.raises(PayloadTooLarge) as info:
            reg.push(_sparse(tmp_path / "big.onnx", size), "big")
        assert info.value.status == 413
        assert "MODELPORT_MAX_UPLOAD_BYTES" in str(info.value)
        with pytest.raises(ModelNotFound):
            reg.model("big")


def test_a_pickle_is_refused_with_the_skops_hint(reg, tmp_path, unique_name):
    path = tmp_path / "model.pkl"
    path.write_bytes(pickle.dumps({"weights": [1, 2, 3]}))
    with pytest.raises(UnsupportedMediaType, match="skops") as info:
        reg.push(path, unique_name)
    assert info.value.problem["status"] == 415


def test_a_large_upload_is_streamed_not_buffered(reg, tmp_path, unique_name):
    size = 48 * 1024 * 1024
    path = _sparse(tmp_path / "model.onnx", size)  # zeros: refused by the cheap ONNX check
    sent = []
    tracemalloc.start()
    try:
        with pytest.raises(InvalidUpload):
            reg.push(path, unique_name, progress=lambda d, t: sent.append(d))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert sent[-1] == size  # the whole body went over the wire
    assert peak < 8 * 1024 * 1024, f"peak {peak / 1e6:.1f} MB while uploading {size / 1e6:.0f} MB"

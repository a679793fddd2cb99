"""Fixtures for the client tests: an SDK bound to the live registry, a ready version."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from clients import Registry, VersionInfo
from tests.factories.onnx_models import linear_model

WAIT_S = 120


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def reg(live_registry) -> Iterator[Registry]:
    with Registry(live_registry.url) as registry:
        yield registry


@pytest.fixture
def onnx_file(tmp_path) -> Path:
    return linear_model(tmp_path / "lin.onnx")


@dataclass
class ReadyModel:
    name: str
    file: Path
    info: VersionInfo


@pytest.fixture(scope="module")
def ready(live_registry, tmp_path_factory) -> ReadyModel:
    """One ONNX model pushed and converted, shared by the read-only tests of a module."""
    name = f"ready-{uuid.uuid4().hex[:8]}"
    path = linear_model(tmp_path_factory.mktemp("ready") / "lin.onnx", seed=1)
    with Registry(live_registry.url) as registry:
        info = registry.push(
            path, name, description="a linear model", tags={"team": "t"}, wait=True, timeout=WAIT_S
        )
    assert isinstance(info, VersionInfo)
    assert info.status == "ready", info.to_dict()
    return ReadyModel(name, path, info)

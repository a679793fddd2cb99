"""Listings follow cursors across pages; waiting gives up with WaitTimeout."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from clients import Registry, WaitTimeout
from clients.cli import app
from tests.conftest import start_registry, stop_registry
from tests.factories.onnx_models import linear_model


def test_listings_follow_the_cursor_over_pages(reg, tmp_path, unique_name):
    model = linear_model(tmp_path / "m.onnx")
    for suffix in ("a", "b", "c"):
        reg.push(model, f"{unique_name}-{suffix}")
    reg.push(model, f"{unique_name}-a")
    reg.page_size = 1
    names = sorted(m.name for m in reg.models(q=unique_name))
    assert names == [f"{unique_name}-{s}" for s in ("a", "b", "c")]
    assert sorted(v.version for v in reg.versions(f"{unique_name}-a")) == [1, 2]
    for suffix, version in (("a", 2), ("b", 1), ("c", 1)):
        reg.wait(f"{unique_name}-{suffix}", version, timeout=120)


@pytest.fixture(scope="module")
def idle_registry(tmp_path_factory):
    """A registry without a job runner: versions stay pending."""
    tmp = tmp_path_factory.mktemp("idle")
    reg = start_registry(
        tmp / "data", f"sqlite:///{tmp / 'registry.db'}", {"MODELPORT_WORKER_CONCURRENCY": "0"}
    )
    yield reg
    stop_registry(reg)


def test_wait_gives_up_after_the_timeout(idle_registry, tmp_path):
    with Registry(idle_registry.url) as reg:
        reg.push(linear_model(tmp_path / "m.onnx"), "pending")
        updates = []
        with pytest.raises(WaitTimeout, match="still 'pending'"):
            reg.wait("pending", 1, timeout=0.3, on_update=updates.append)
        assert updates and all(u.status == "pending" for u in updates)


def test_push_wait_exits_7_when_it_times_out(idle_registry, tmp_path):
    model = linear_model(tmp_path / "m.onnx")
    result = CliRunner().invoke(
        app,
        [
            "--url",
            idle_registry.url,
            "push",
            str(model),
            "--name",
            "slow",
            "--wait",
            "--timeout",
            "0.3",
        ],
    )
    assert result.exit_code == 7, result.output
    assert result.stderr.strip().splitlines()[-1].startswith("error: slow:1 is still")

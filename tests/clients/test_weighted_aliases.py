"""Weighted aliases through the SDK and the ``modelport alias`` command, over real HTTP."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from clients.cli import app
from runtime.errors import AliasNotFound, InvalidWeights, VersionNotFound
from tests.factories.onnx_models import linear_model


@pytest.fixture
def two_versions(reg, unique_name, tmp_path):
    for seed in (1, 2):
        reg.push(linear_model(tmp_path / f"v{seed}.onnx", seed=seed), unique_name, wait=True)
    return unique_name


def _cli(url, *args):
    result = CliRunner().invoke(app, ["--url", url, *args])
    return result


def test_cli_splits_moves_and_the_sdk_reads_the_history(live_registry, reg, two_versions):
    name = two_versions
    out = _cli(live_registry.url, "alias", name, "production", "1=90", "2=10", "--note", "try 2")
    assert out.exit_code == 0, out.output
    assert f"{name}@production -> {{1: 90%  2: 10%}}" in out.output
    moved = _cli(live_registry.url, "alias", name, "production", "1=50", "2=50", "--json")
    assert json.loads(moved.output)["weights"] == {"1": 50, "2": 50}
    info = reg.alias(name, "production")
    assert (info.version, info.weights) == (1, {1: 50, 2: 50})
    assert info.target.pick("user-7") == info.target.pick("user-7")
    history = reg.alias_history(name, "production")
    assert [e.weights for e in history] == [{1: 50, 2: 50}, {1: 90, 2: 10}]
    assert history[1].note == "try 2" and history[1].previous is None
    assert history[0].changed_by  # the local user
    plain = reg.set_alias(name, "production", 2, changed_by="ci")
    assert plain.weights == {2: 100} and reg.alias_history(name, "production")[0].changed_by == "ci"


@pytest.mark.parametrize(
    ("args", "code", "text"),
    [
        (("1=90", "2=20"), 5, "sum to 110"),
        (("1=90", "two"), 5, "VERSION=WEIGHT"),
        (("1=50", "7=50"), 4, "no version 7"),
    ],
)
def test_cli_bad_weights_fail_clearly(live_registry, reg, two_versions, args, code, text):
    out = _cli(live_registry.url, "alias", two_versions, "production", *args)
    assert out.exit_code == code, out.output
    assert text in out.output
    with pytest.raises(AliasNotFound):
        reg.alias(two_versions, "production")


def test_sdk_refuses_bad_weights_before_sending(reg, two_versions):
    with pytest.raises(InvalidWeights, match="sum to 90"):
        reg.set_alias(two_versions, "prod", weights={1: 45, 2: 45})
    with pytest.raises(VersionNotFound):
        reg.set_alias(two_versions, "prod", weights={1: 50, 3: 50})

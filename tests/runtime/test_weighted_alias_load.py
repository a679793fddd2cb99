"""runtime.load through a weighted alias against a real registry over HTTP."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections import Counter

import httpx
import pytest

import runtime
from runtime import AliasTarget, parse_weights
from runtime.errors import InvalidWeights
from tests.factories.onnx_models import linear_model
from tests.runtime._registry_helpers import push


@pytest.fixture(scope="module")
def split(live_registry, tmp_path_factory):
    """A model with two versions and production -> {1: 70, 2: 30}."""
    tmp = tmp_path_factory.mktemp("split")
    name = f"rt-split-{uuid.uuid4().hex[:8]}"
    with live_registry.client() as client:
        for seed in (1, 2):
            push(client, name, linear_model(tmp / f"v{seed}.onnx", n_in=4, n_out=2, seed=seed))
        resp = client.put(
            f"/api/v1/models/{name}/aliases/production", json={"weights": {"1": 70, "2": 30}}
        )
        assert resp.status_code == 200, resp.text
    return name


def test_sticky_key_picks_the_same_version_every_time(live_registry, split, tmp_path):
    picks = {}
    for key in ("user-1", "user-2", "user-3", "user-4", "user-5", "user-6"):
        models = [
            runtime.load(
                f"{split}@production", registry=live_registry.url, cache_dir=tmp_path, sticky=key
            )
            for _ in range(2)
        ]
        assert models[0].info.version == models[1].info.version
        assert models[0].info.alias == "production"
        assert models[0].info.weights == {1: 70, 2: 30}
        picks[key] = models[0].info.version
    target = AliasTarget(split, "production", ((1, 70), (2, 30)))
    assert picks == {key: target.pick(key) for key in picks}


def test_a_process_without_a_key_keeps_its_pick_and_processes_spread(
    live_registry, split, tmp_path
):
    code = (
        "import runtime, sys\n"
        "ms = [runtime.load(sys.argv[1], registry=sys.argv[2], cache_dir=sys.argv[3]) "
        "for _ in range(3)]\n"
        "assert len({m.info.version for m in ms}) == 1\n"
        "print(ms[0].info.version)\n"
    )
    seen = Counter()
    for _ in range(12):
        out = subprocess.run(
            [sys.executable, "-c", code, f"{split}@production", live_registry.url, str(tmp_path)],
            capture_output=True,
            text=True,
            check=True,
        )
        seen[int(out.stdout)] += 1
    # 12 processes at 70/30: both versions all but surely appear (0.7**12 + 0.3**12 < 1.5%)
    assert set(seen) <= {1, 2} and sum(seen.values()) == 12
    assert len(seen) == 2, seen


def test_moving_weights_moves_the_pick(live_registry, split, tmp_path):
    target = AliasTarget(split, "production", ((1, 70), (2, 30)))
    key = next(k for k in (f"k{i}" for i in range(200)) if target.pick(k) == 1)
    url = live_registry.url
    model = runtime.load(f"{split}@production", registry=url, cache_dir=tmp_path, sticky=key)
    assert model.info.version == 1
    base = f"/api/v1/models/{split}/aliases/production"
    with httpx.Client(base_url=url) as client:
        assert client.put(base, json={"version": 2}).status_code == 200
        try:
            moved = runtime.load(
                f"{split}@production", registry=url, cache_dir=tmp_path, sticky=key
            )
            assert moved.info.version == 2 and moved.info.weights == {2: 100}
        finally:
            client.put(base, json={"weights": {"1": 70, "2": 30}})


def test_pick_shares_follow_the_weights_and_grow_monotonically():
    before = AliasTarget("m", "prod", ((3, 90), (4, 10)))
    after = AliasTarget("m", "prod", ((3, 80), (4, 20)))
    keys = [f"user-{i}" for i in range(4000)]
    share = Counter(before.pick(k) for k in keys)
    assert 0.08 < share[4] / len(keys) < 0.12
    # keys on the canary stay on it when its weight grows
    assert all(after.pick(k) == 4 for k in keys if before.pick(k) == 4)


@pytest.mark.parametrize(
    "bad",
    [{}, {1: 50}, {1: 0, 2: 100}, {1: 101}, {"x": 100}, {1: True}, ["3=90", "4"], ["3=50", "3=50"]],
)
def test_malformed_weights_are_refused(bad):
    with pytest.raises(InvalidWeights):
        parse_weights(bad)


def test_cli_words_and_wire_form_agree():
    assert (
        parse_weights(["3=90", "4=10"]) == parse_weights({"4": 10, "3": 90}) == ((3, 90), (4, 10))
    )

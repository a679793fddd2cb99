"""Per-request traffic split of a weighted alias: the runtime's own pick rule."""

from __future__ import annotations

from collections import Counter

from api.serving._routes import Route, ServedModel, ServedVersion
from runtime import AliasTarget, ModelRef


def _route() -> tuple[Route, AliasTarget]:
    target = AliasTarget.from_dict(
        {"name": "fraud", "alias": "production", "weights": {"3": 90, "4": 10}}
    )
    versions = tuple(ServedVersion("fraud", v, model=None, batcher=None) for v in (3, 4))
    return Route(ModelRef("fraud", alias="production"), versions, target), target


def test_requests_without_a_key_split_by_weight():
    route, _ = _route()
    counts = Counter(route.pick().version for _ in range(4000))
    assert set(counts) == {3, 4}
    assert 0.85 < counts[3] / 4000 < 0.95


def test_a_sticky_key_picks_what_the_runtime_would():
    route, target = _route()
    served = ServedModel("fraud", [route])
    for key in (f"user-{i}" for i in range(50)):
        assert served.resolve("production", key).version == target.pick(key)
        assert served.resolve(None, key).version == target.pick(key)

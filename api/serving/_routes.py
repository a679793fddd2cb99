"""What the server serves: loaded versions, and the references (routes) that pick them.

A route is one reference given on the command line (``fraud-clf@production``,
``fraud-clf:3``, ``fraud-clf``) and the versions it currently points at, with weights
(a plain alias or ``latest`` has one version at weight 1; a weighted alias several).
Routes are immutable; following an alias builds a new route and replaces the old one
in a single dict assignment, so a request sees either the old route or the new one.
"""

from __future__ import annotations

import bisect
import itertools
import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from api.serving._batching import Batcher
from runtime import Model, ModelRef

__all__ = ["NotServed", "Route", "ServedModel", "ServedVersion", "Targets", "warm_up"]

#: version -> weight (any positive numbers; a route normalises them)
Targets = Mapping[int, float]


class NotServed(LookupError):
    """The model or version named in a URL is not served here (answered with 404)."""


@dataclass(frozen=True, eq=False)
class ServedVersion:
    """One loaded model version and the batcher that runs it."""

    name: str
    version: int
    model: Model
    batcher: Batcher = field(repr=False)

    @property
    def label(self) -> str:
        return str(self.version)


@dataclass(frozen=True, eq=False)
class Route:
    """A reference and the weighted versions it points at now."""

    ref: ModelRef
    choices: tuple[ServedVersion, ...]
    weights: tuple[float, ...]
    _cumulative: tuple[float, ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if not self.choices or len(self.choices) != len(self.weights):
            raise ValueError("a route needs one positive weight per version")
        total = float(sum(self.weights))
        if total <= 0 or any(w < 0 for w in self.weights):
            raise ValueError(f"invalid weights {self.weights} for {self.ref}")
        shares = tuple(itertools.accumulate(w / total for w in self.weights))
        object.__setattr__(self, "_cumulative", shares)

    @property
    def label(self) -> str:
        """The version name this route answers to in URLs: ``3``, ``latest`` or the alias."""
        return self.ref.ref

    @property
    def targets(self) -> dict[int, float]:
        return {c.version: w for c, w in zip(self.choices, self.weights, strict=True)}

    def pick(self, rng: random.Random) -> ServedVersion:
        """One version, drawn by weight (the only one when there is one)."""
        if len(self.choices) == 1:
            return self.choices[0]
        index = bisect.bisect_right(self._cumulative, rng.random() * self._cumulative[-1])
        return self.choices[min(index, len(self.choices) - 1)]


class ServedModel:
    """Every route of one model name; the first route given is the default."""

    def __init__(self, name: str, routes: Iterable[Route]) -> None:
        self.name = name
        self.routes: dict[str, Route] = {}
        for route in routes:
            self.routes[route.label] = route
        self.default = next(iter(self.routes))
        self._rng = random.Random()  # noqa: S311 - splits traffic; not a secret

    def versions(self) -> list[ServedVersion]:
        """Every version some route points at, lowest first."""
        found = {c.version: c for r in self.routes.values() for c in r.choices}
        return [found[v] for v in sorted(found)]

    def resolve(self, version: str | None) -> ServedVersion:
        """The version that answers a request for ``version`` (None or "" = the default
        route; a number = that version if served; else a route label such as an alias)."""
        if not version:
            return self.routes[self.default].pick(self._rng)
        route = self.routes.get(version)
        if route is not None:
            return route.pick(self._rng)
        if version.isdigit():
            for served in self.versions():
                if served.label == version:
                    return served
        known = ", ".join([*self.routes, *(v.label for v in self.versions())])
        raise NotServed(f"model {self.name!r} has no served version {version!r}; served: {known}")

    def swap(self, route: Route) -> None:
        """Replace the route with the same label (one atomic dict assignment)."""
        self.routes[route.label] = route


def warm_up(model: Model) -> None:
    """Run ``model`` once on a one-row input of zeros built from its signature, so a
    version that cannot run fails here rather than on a request. Models whose input
    shapes are not known are skipped."""
    feeds: dict[str, Any] = {}
    for spec in model.signature.inputs:
        if spec.shape is None:
            return
        shape = tuple(d if isinstance(d, int) and d > 0 else 1 for d in spec.shape)
        if spec.dtype in ("str", "string", "object"):
            feeds[spec.name] = np.full(shape, "", dtype=object)
            continue
        try:
            feeds[spec.name] = np.zeros(shape, dtype=spec.dtype)
        except TypeError:
            return  # a non-tensor input type: nothing generic to feed it
    model.run(feeds)

"""What the server serves: loaded versions, and the references (routes) that pick them.

A route is one reference given on the command line (``fraud-clf@production``,
``fraud-clf:3``, ``fraud-clf``) and the versions it currently points at (one, or
several with weights for a weighted alias).
Routes are immutable; following an alias builds a new route and replaces the old one
in a single dict assignment, so a request sees either the old route or the new one.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from api.serving._batching import Batcher
from api.serving._tensors import v2_datatype
from runtime import AliasTarget, Model, ModelRef

__all__ = ["NotServed", "Route", "ServedModel", "ServedVersion", "warm_up"]

_PLATFORMS = {
    "onnx": "onnxruntime_onnx",
    "pmml": "pypmml_pmml",
    "savedmodel": "tensorflow_savedmodel",
}


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
    """A reference and the version(s) it points at now.

    ``target`` is the alias document of an alias reference; a weighted alias
    (``production -> {3: 90, 4: 10}``) splits requests by its own rule
    (:meth:`runtime.AliasTarget.pick`): a request's sticky key always lands on the same
    version for the same weights, and a request without one gets a fresh random key.
    """

    ref: ModelRef
    choices: tuple[ServedVersion, ...]
    target: AliasTarget | None = None
    _by_version: dict[int, ServedVersion] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if not self.choices:
            raise ValueError(f"route {self.ref} has no version")
        by_version = {c.version: c for c in self.choices}
        if self.target is not None and set(self.target.versions) != set(by_version):
            raise ValueError(f"route {self.ref}: versions do not match {self.target.weights}")
        object.__setattr__(self, "_by_version", by_version)

    @property
    def label(self) -> str:
        """The version name this route answers to in URLs: ``3``, ``latest`` or the alias."""
        return self.ref.ref

    @property
    def targets(self) -> dict[int, int]:
        """version -> weight (percent); a single version has all of it."""
        if self.target is None:
            return {self.choices[0].version: 100}
        return dict(self.target.weights)

    def pick(self, key: str | None = None) -> ServedVersion:
        """The version for one request (the only one unless the alias is split)."""
        target = self.target
        if target is None or not target.is_split:
            return self.choices[0]
        return self._by_version[target.pick(key if key else os.urandom(12))]


class ServedModel:
    """Every route of one model name; the first route given is the default."""

    def __init__(self, name: str, routes: Iterable[Route]) -> None:
        self.name = name
        self.routes: dict[str, Route] = {}
        for route in routes:
            self.routes[route.label] = route
        self.default = next(iter(self.routes))

    def versions(self) -> list[ServedVersion]:
        """Every version some route points at, lowest first."""
        found = {c.version: c for r in self.routes.values() for c in r.choices}
        return [found[v] for v in sorted(found)]

    def resolve(self, version: str | None, key: str | None = None) -> ServedVersion:
        """The version that answers a request for ``version`` (None or "" = the default
        route; a number = that version if served; else a route label such as an alias);
        ``key`` is the request's sticky key for a split alias."""
        if not version:
            return self.routes[self.default].pick(key)
        route = self.routes.get(version)
        if route is not None:
            return route.pick(key)
        if version.isdigit():
            for served in self.versions():
                if served.label == version:
                    return served
        known = ", ".join([*self.routes, *(v.label for v in self.versions())])
        raise NotServed(f"model {self.name!r} has no served version {version!r}; served: {known}")

    def metadata(self, version: str | None) -> tuple[ServedVersion, dict[str, Any]]:
        """The V2 model metadata for ``version`` (None or "": the model as a whole, every
        version and route label listed), and the version that describes it."""
        if version:
            answering = self.resolve(version)
            names = [answering.label]
        else:
            answering = self.routes[self.default].choices[0]
            names = [v.label for v in self.versions()]
            names += [label for label in self.routes if not label.isdigit()]
        info = answering.model.info
        sig = answering.model.signature
        return answering, {
            "name": self.name,
            "versions": names,
            "platform": _PLATFORMS.get(info.format, info.format),
            "inputs": _tensor_metadata(sig.inputs),
            "outputs": _tensor_metadata(sig.outputs),
        }

    def swap(self, route: Route) -> None:
        """Replace the route with the same label (one atomic dict assignment)."""
        self.routes[route.label] = route


def _tensor_metadata(specs: Any) -> list[dict[str, Any]]:
    return [
        {
            "name": s.name,
            "datatype": v2_datatype(s.dtype),
            "shape": [-1]
            if s.shape is None
            else [d if isinstance(d, int) else -1 for d in s.shape],
        }
        for s in specs
    ]


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

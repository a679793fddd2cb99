"""Loading references through the runtime, and following aliases as they move.

Every version is opened with ``runtime.load("name:N")``, so a served model is exactly
the verified artifact the runtime would run. A reference that is not pinned
(``name@alias``, ``name``) is resolved against the registry's REST API to what it
points at now (an alias document, which may split traffic by weight, or the latest
version); with ``--follow`` that is repeated in the background and a moved
reference is loaded, checked (a warm-up run), then swapped in as a new route.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

import runtime
from api.serving._batching import Batcher
from api.serving._metrics import ServerMetrics
from api.serving._routes import Route, ServedModel, ServedVersion, warm_up
from runtime import AliasTarget, ModelRef
from runtime.errors import ModelportError, RegistryUnavailable

__all__ = ["BatchPolicy", "Follower", "ModelLoader", "Resolved", "publish_weights"]

#: what an unpinned reference points at: an alias document, or the latest version
Resolved = AliasTarget | int

log = logging.getLogger("api.serving")


@dataclass(frozen=True)
class BatchPolicy:
    """Dynamic batching settings; ``enabled=None`` batches where the batch axis is dynamic."""

    enabled: bool | None = None
    max_batch: int = 64
    max_delay_ms: float = 0.0


def _versions(resolved: Resolved) -> tuple[int, ...]:
    return (resolved,) if isinstance(resolved, int) else resolved.versions


def _same(route: Route, resolved: Resolved) -> bool:
    if isinstance(resolved, int):
        return route.target is None and route.choices[0].version == resolved
    return route.target is not None and route.target.weights == resolved.weights


def _dynamic_batch_axis(model: runtime.Model) -> bool:
    specs = (*model.signature.inputs, *model.signature.outputs)
    return bool(specs) and all(
        s.shape is not None and len(s.shape) >= 1 and not isinstance(s.shape[0], int) for s in specs
    )


class ModelLoader:
    """Opens versions through the runtime and wraps each in its batcher."""

    def __init__(
        self,
        executor: Executor,
        metrics: ServerMetrics,
        batching: BatchPolicy,
        *,
        registry: str | None = None,
        token: str | None = None,
        load_options: dict[str, Any] | None = None,
    ) -> None:
        self.executor = executor
        self.metrics = metrics
        self.batching = batching
        self.registry = registry or os.environ.get("MODELPORT_URL") or "http://127.0.0.1:8000"
        self.token = token or os.environ.get("MODELPORT_TOKEN")
        self.load_options = load_options or {}

    def resolve(self, ref: ModelRef) -> Resolved:
        """Ask the registry what ``ref`` points at now: an alias's (weighted) target,
        or the number of the latest version."""
        if ref.alias is not None:
            path = f"/api/v1/models/{ref.name}/aliases/{ref.alias}"
            return AliasTarget.from_dict(self._get(path, ref))
        return int(self._get(f"/api/v1/models/{ref.name}/versions/{ref.ref}", ref)["version"])

    def _get(self, path: str, ref: ModelRef) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        try:
            resp = httpx.get(self.registry.rstrip("/") + path, headers=headers, timeout=10)
        except httpx.TransportError as exc:
            raise RegistryUnavailable(f"registry {self.registry} is unreachable: {exc}") from exc
        if resp.status_code != 200:
            raise ModelportError(
                f"registry answered {resp.status_code} for {ref}: {resp.text[:300]}"
            )
        doc: dict[str, Any] = resp.json()
        return doc

    def open_version(self, name: str, version: int) -> ServedVersion:
        """Load ``name:version`` through the runtime's verified cache and check it runs."""
        model = runtime.load(
            f"{name}:{version}", registry=self.registry, token=self.token, **self.load_options
        )
        warm_up(model)
        return self._served(name, version, model)

    def _served(self, name: str, version: int, model: runtime.Model) -> ServedVersion:
        enabled = self.batching.enabled
        if enabled is None:
            enabled = _dynamic_batch_axis(model)
        histogram = self.metrics.batch_rows.labels(name, str(version))
        batcher = Batcher(
            model.run,
            self.executor,
            enabled=enabled,
            max_batch=self.batching.max_batch,
            max_delay=self.batching.max_delay_ms / 1000,
            on_batch=histogram.observe,
        )
        return ServedVersion(name, version, model, batcher)

    def open_ref(self, text: str, known: dict[tuple[str, int], ServedVersion]) -> Route:
        """The route of one command-line reference, loading what it points at."""
        if _is_path(text):
            return self._open_path(Path(text))
        ref = ModelRef.parse(text)
        if ref.version is not None:
            return self.route_for(ref, ref.version, known)
        try:
            resolved = self.resolve(ref)
        except RegistryUnavailable:
            # offline: the runtime's cache knows the last target of the reference
            model = runtime.load(
                str(ref), registry=self.registry, token=self.token, **self.load_options
            )
            served = self._served(ref.name, int(model.info.version or 0), model)
            return Route(ref, (served,))
        return self.route_for(ref, resolved, known)

    def route_for(
        self, ref: ModelRef, resolved: Resolved, known: dict[tuple[str, int], ServedVersion]
    ) -> Route:
        """A route to what ``ref`` resolved to, reusing loaded versions (``known`` grows)."""
        choices = []
        for version in _versions(resolved):
            served = known.get((ref.name, version))
            if served is None:
                served = self.open_version(ref.name, version)
                known[(ref.name, version)] = served
            choices.append(served)
        target = resolved if isinstance(resolved, AliasTarget) else None
        return Route(ref, tuple(choices), target)

    def _open_path(self, path: Path) -> Route:
        model = runtime.load(path, **self.load_options)
        name = model.info.name or path.stem.split(".")[0]
        version = int(model.info.version or 1)
        served = self._served(name, version, model)
        return Route(ModelRef(name, version=version), (served,))


_ARTIFACT_SUFFIXES = (".onnx", ".ort", ".pmml", ".xml", ".tar")


def _is_path(text: str) -> bool:
    """A local artifact rather than a reference: a path with a separator or a leading
    '.' or '~', or an existing artifact file; a bare name stays a model name."""
    if "/" in text or "\\" in text or text.startswith((".", "~")):
        return True
    if ":" in text or "@" in text:
        return False
    path = Path(text)
    return path.is_file() and path.suffix.lower() in _ARTIFACT_SUFFIXES


class Follower:
    """Re-resolves every unpinned route each ``interval`` seconds and swaps moved ones."""

    def __init__(
        self,
        loader: ModelLoader,
        models: dict[str, ServedModel],
        interval: float,
        on_retire: Callable[[ServedVersion], None] = lambda v: None,
    ) -> None:
        self.loader = loader
        self.models = models
        self.interval = interval
        self.on_retire = on_retire

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            await self.check_all()

    async def check_all(self) -> None:
        """One pass over every followed route (also called directly by tests)."""
        for served in list(self.models.values()):
            for route in list(served.routes.values()):
                if not route.ref.is_pinned:
                    await self._check(served, route)

    async def _check(self, served: ServedModel, route: Route) -> None:
        metrics = self.loader.metrics
        try:
            resolved = await asyncio.to_thread(self.loader.resolve, route.ref)
            if _same(route, resolved):
                return
            known = {(c.name, c.version): c for c in served.versions()}
            new = await asyncio.to_thread(self.loader.route_for, route.ref, resolved, known)
        except (ModelportError, OSError, ValueError, KeyError) as exc:
            metrics.follow_errors.labels(served.name, route.label).inc()
            log.warning("follow %s: keeping %s: %s", route.ref, route.targets, exc)
            return
        served.swap(new)
        metrics.swaps.labels(served.name, route.label).inc()
        log.info("follow %s: now %s (was %s)", route.ref, new.targets, route.targets)
        self._publish_weights(served.name, new, route)
        still = {c.version for c in served.versions()}
        for old in route.choices:
            if old.version not in still:
                self.on_retire(old)

    def _publish_weights(self, name: str, route: Route, old: Route | None = None) -> None:
        publish_weights(self.loader.metrics, name, route, old)


def publish_weights(
    metrics: ServerMetrics, name: str, route: Route, old: Route | None = None
) -> None:
    """Set the route-weight gauge of each version (0 for versions the route left)."""
    gauge = metrics.weight
    if old is not None:
        for choice in old.choices:
            gauge.labels(name, route.label, choice.label).set(0)
    for version, weight in route.targets.items():
        gauge.labels(name, route.label, str(version)).set(weight / 100)

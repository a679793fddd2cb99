"""Loading references through the runtime, and following aliases as they move.

Every version is opened with ``runtime.load("name:N")``, so a served model is exactly
the verified artifact the runtime would run. A reference that is not pinned
(``name@alias``, ``name``) is resolved against the registry's REST API to the versions
it points at now; with ``--follow`` that is repeated in the background and a moved
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
from api.serving._routes import Route, ServedModel, ServedVersion, Targets, warm_up
from runtime import ModelRef
from runtime.errors import ModelportError, RegistryUnavailable

__all__ = ["BatchPolicy", "Follower", "ModelLoader", "targets_of"]

log = logging.getLogger("api.serving")


@dataclass(frozen=True)
class BatchPolicy:
    """Dynamic batching settings; ``enabled=None`` batches where the batch axis is dynamic."""

    enabled: bool | None = None
    max_batch: int = 64
    max_delay_ms: float = 0.0


def targets_of(doc: dict[str, Any]) -> dict[int, float]:
    """The versions a resolved reference points at, with weights, from its version
    document (a plain alias or ``latest``: its one version at weight 1)."""
    weights = doc.get("weights")
    if isinstance(weights, dict) and weights:
        return {int(v): float(w) for v, w in weights.items()}
    return {int(doc["version"]): 1.0}


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

    def resolve(self, ref: ModelRef) -> dict[int, float]:
        """Ask the registry which versions ``ref`` points at now."""
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        url = f"{self.registry.rstrip('/')}/api/v1/models/{ref.name}/versions/{ref.ref}"
        try:
            resp = httpx.get(url, headers=headers, timeout=10)
        except httpx.TransportError as exc:
            raise RegistryUnavailable(f"registry {self.registry} is unreachable: {exc}") from exc
        if resp.status_code != 200:
            raise ModelportError(f"registry answered {resp.status_code} for {ref}: {resp.text}")
        return targets_of(resp.json())

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
        if ref.is_pinned:
            assert ref.version is not None
            targets: Targets = {ref.version: 1.0}
        else:
            try:
                targets = self.resolve(ref)
            except RegistryUnavailable:
                model = runtime.load(str(ref), registry=self.registry, token=self.token)
                version = int(model.info.version or 0)
                served = self._served(ref.name, version, model)
                return Route(ref, (served,), (1.0,))
        return self.route_for(ref, targets, known)

    def route_for(
        self, ref: ModelRef, targets: Targets, known: dict[tuple[str, int], ServedVersion]
    ) -> Route:
        """A route to ``targets``, reusing versions already loaded (``known`` grows)."""
        choices = []
        for version in targets:
            served = known.get((ref.name, version))
            if served is None:
                served = self.open_version(ref.name, version)
                known[(ref.name, version)] = served
            choices.append(served)
        return Route(ref, tuple(choices), tuple(float(w) for w in targets.values()))

    def _open_path(self, path: Path) -> Route:
        model = runtime.load(path, **self.load_options)
        name = model.info.name or path.stem.split(".")[0]
        version = int(model.info.version or 1)
        served = self._served(name, version, model)
        return Route(ModelRef(name, version=version), (served,), (1.0,))


def _is_path(text: str) -> bool:
    return "/" in text or text.startswith((".", "~")) or Path(text).exists()


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
            targets = await asyncio.to_thread(self.loader.resolve, route.ref)
            if targets == route.targets:
                return
            known = {(c.name, c.version): c for c in served.versions()}
            new = await asyncio.to_thread(self.loader.route_for, route.ref, targets, known)
        except (ModelportError, OSError, ValueError, KeyError) as exc:
            metrics.follow_errors.labels(served.name, route.label).inc()
            log.warning("follow %s: keeping %s: %s", route.ref, route.targets, exc)
            return
        served.swap(new)
        metrics.swaps.labels(served.name, route.label).inc()
        log.info("follow %s: now %s (was %s)", route.ref, new.targets, route.targets)
        self._publish_weights(served.name, new)
        still = {c.version for c in served.versions()}
        for old in route.choices:
            if old.version not in still:
                self.on_retire(old)

    def _publish_weights(self, name: str, route: Route) -> None:
        total = sum(route.weights)
        gauge = self.loader.metrics.weight
        for choice, weight in zip(route.choices, route.weights, strict=True):
            gauge.labels(name, route.label, choice.label).set(weight / total)

"""Prometheus metrics of the registry and its conversion workers (prometheus-client).

With ``PROMETHEUS_MULTIPROC_DIR`` set, every process (API replicas started by one
supervisor, conversion workers on the same machine) writes its samples there and
:func:`render_metrics` adds them up; without it each process reports its own.
Queue depth is read from the job table when scraped, so every replica reports the
same figure whichever process converts.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
    start_http_server,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from registry._domain import Artifact
from registry._metadata import MetadataStore
from registry._queues import QUEUES, queue_for

__all__ = ["count_blob_bytes", "observe_http", "observe_job", "render_metrics", "serve_metrics"]

HTTP_LATENCY = Histogram(
    "modelport_http_request_duration_seconds",
    "Time to answer an HTTP request, by route template.",
    ["method", "route", "status"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
CONVERSIONS = Counter(
    "modelport_conversions_total",
    "Conversions by source framework, target format and outcome (the artifact's status).",
    ["framework", "target", "outcome"],
)
VALIDATIONS = Counter(
    "modelport_validations_total",
    "Numerical validations of converted artifacts by target and outcome.",
    ["target", "outcome"],
)
JOB_DURATION = Histogram(
    "modelport_job_duration_seconds",
    "Wall time of a conversion job (prepare, convert and validate, store).",
    ["framework", "outcome"],
    buckets=(0.5, 1, 2, 5, 10, 20, 40, 80, 160, 320, 640),
)
BLOB_BYTES = Counter(
    "modelport_blob_bytes_total",
    "Bytes written to (in) and served from (out) the blob store.",
    ["direction"],
)


def observe_job(
    framework: str, artifacts: Iterable[Artifact], outcome: str, timings: dict[str, float]
) -> None:
    """Count one finished job and the artifacts it stored."""
    for a in artifacts:
        CONVERSIONS.labels(framework, a.format, a.status).inc()
        if a.validation and a.status in ("passed", "weak", "failed"):
            VALIDATIONS.labels(a.format, a.status).inc()
        if a.size:
            BLOB_BYTES.labels("in").inc(a.size)
    JOB_DURATION.labels(framework, outcome).observe(sum(timings.values()))


class _QueueDepth(Collector):
    """Jobs queued and running per conversion queue, counted in the metadata store."""

    def __init__(self, metadata: MetadataStore) -> None:
        self.metadata = metadata

    def collect(self) -> Iterator[GaugeMetricFamily]:
        gauge = GaugeMetricFamily(
            "modelport_queue_depth",
            "Conversion jobs waiting or running.",
            labels=["queue", "status"],
        )
        counts = {(q, st): 0 for q in QUEUES for st in ("queued", "running")}
        for framework, status, n in self.metadata.job_counts():
            key = (queue_for(framework), status)
            counts[key] = counts.get(key, 0) + n
        for (queue, status), n in sorted(counts.items()):
            gauge.add_metric([queue, status], n)
        yield gauge

    def describe(self) -> list[Any]:
        return []


def observe_http(method: str, route: str, status: int, seconds: float) -> None:
    """Record one answered HTTP request under its route template."""
    HTTP_LATENCY.labels(method, route, str(status)).observe(seconds)


def count_blob_bytes(direction: str, n: int) -> None:
    """Count bytes written to (``in``) or served from (``out``) the blob store."""
    if n > 0:
        BLOB_BYTES.labels(direction).inc(n)


def render_metrics(metadata: MetadataStore | None = None) -> tuple[bytes, str]:
    """The Prometheus text exposition of this process (or of all, in multiprocess mode),
    and its content type."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        text = generate_latest(registry)
    else:
        text = generate_latest(REGISTRY)
    if metadata is not None:
        depth = CollectorRegistry(auto_describe=False)
        depth.register(_QueueDepth(metadata))
        text += generate_latest(depth)
    return text, CONTENT_TYPE_LATEST


def serve_metrics(port: int, addr: str = "0.0.0.0") -> None:  # noqa: S104
    """Serve this process's metrics (all processes', in multiprocess mode) on ``port``."""
    registry = REGISTRY
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    start_http_server(port, addr=addr, registry=registry)

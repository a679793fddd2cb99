"""Prometheus metrics of the inference server, labelled by model and version."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

__all__ = ["CONTENT_TYPE", "ServerMetrics"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)


class ServerMetrics:
    """One registry per server, so several servers in one process never share counters."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "modelport_inference_requests",
            "Inference requests answered, by model, version and HTTP status.",
            ["model", "version", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "modelport_inference_request_seconds",
            "Time from a request's arrival to its response, by model and version.",
            ["model", "version"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.batch_rows = Histogram(
            "modelport_inference_batch_rows",
            "Rows per model call (after dynamic batching), by model and version.",
            ["model", "version"],
            buckets=_BATCH_BUCKETS,
            registry=self.registry,
        )
        self.swaps = Counter(
            "modelport_alias_swaps",
            "Times a followed reference moved to new versions and was swapped in.",
            ["model", "ref"],
            registry=self.registry,
        )
        self.follow_errors = Counter(
            "modelport_alias_follow_errors",
            "Failed attempts to resolve, load or check a followed reference's new target.",
            ["model", "ref"],
            registry=self.registry,
        )
        self.weight = Gauge(
            "modelport_route_weight",
            "Share of a served reference's requests sent to each version (0-1).",
            ["model", "ref", "version"],
            registry=self.registry,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)

"""Prometheus metrics of one server process (``GET /metrics``, text exposition format)."""

from __future__ import annotations

from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST

__all__ = ["CONTENT_TYPE_LATEST", "Metrics"]

_LATENCY = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_ROWS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096)


class Metrics:
    """The server's counters, histograms and gauges, in a registry of its own."""

    def __init__(self) -> None:
        disable_created_metrics()  # the *_created series only double the scrape size
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "keel_requests", "HTTP requests answered", ["route", "method", "status"], registry=r
        )
        self.latency = Histogram(
            "keel_request_seconds", "time to answer", ["route"], buckets=_LATENCY, registry=r
        )
        self.batch_rows = Histogram(
            "keel_batch_rows", "rows per inference batch", ["model"], buckets=_ROWS, registry=r
        )
        self.queue_rows = Gauge(
            "keel_queue_rows", "rows waiting for a batch", ["model"], registry=r
        )
        self.served_version = Gauge(
            "keel_served_version", "the version answering for a model", ["model", "ref"],
            registry=r,
        )  # fmt: skip
        self.swaps = Counter(
            "keel_swaps", "served-version changes (promote, rollback, reload)", ["model"],
            registry=r,
        )  # fmt: skip
        self.predictions = Counter(
            "keel_predictions", "rows predicted", ["model", "version"], registry=r
        )

        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        """Count one answered request and its latency (label children cached: no lock per call)."""
        key = (route, method, status)
        child = self._children.get(key)
        if child is None:
            child = (
                self.requests.labels(route, method, str(status)),
                self.latency.labels(route),
            )
            self._children[key] = child
        child[0].inc()
        child[1].observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)

"""Prometheus metrics of the server (``GET /metrics``, text exposition format).

With ``--workers N`` every worker writes its series to memory-mapped files in the folder
``PROMETHEUS_MULTIPROC_DIR`` names (set by ``keel serve`` before the workers start), and a scrape
answered by any worker sums counters and histograms over all of them, so ``/metrics`` shows the
whole server, not the one process that happened to answer. Gauges say how they combine: rows queued
add up over live workers, the served version is the highest any live worker serves.
"""

from __future__ import annotations

import os
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

__all__ = ["CONTENT_TYPE_LATEST", "MULTIPROCESS_ENV", "Metrics", "worker_exit"]

MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"

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
        self.multiprocess = bool(os.environ.get(MULTIPROCESS_ENV))
        self.queue_rows = Gauge(
            "keel_queue_rows", "rows waiting for a batch", ["model"], registry=r,
            multiprocess_mode="livesum",
        )  # fmt: skip
        self.served_version = Gauge(
            "keel_served_version", "the version answering for a model", ["model", "ref"],
            registry=r, multiprocess_mode="livemax",
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
        """The exposition text: this process's registry, or every worker's series combined."""
        if not self.multiprocess:
            return generate_latest(self.registry)
        from prometheus_client import multiprocess

        combined = CollectorRegistry()
        multiprocess.MultiProcessCollector(combined)
        return generate_latest(combined)


def worker_exit() -> None:
    """Drop this worker's live gauges from the combined view (a no-op with one process)."""
    if os.environ.get(MULTIPROCESS_ENV):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(os.getpid())

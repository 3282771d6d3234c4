"""Prometheus metrics of the service (one registry per app, so several apps can live in one process)."""

from __future__ import annotations

import collections
import statistics
import threading
import time
from typing import Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from prover.types import Verdict

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_RATE_WINDOW_S = 60.0


class _Window(Collector):
    """checks/s and p50/p99 request latency over recent requests, computed at scrape time."""

    def __init__(self, size: int) -> None:
        self._lock = threading.Lock()
        self._latency: dict[str, collections.deque[float]] = {}
        self._done: dict[str, collections.deque[tuple[float, int]]] = {}
        self._size = size
        self._t0 = time.monotonic()

    def add(self, domain: str, latency_s: float, rows: int) -> None:
        with self._lock:
            self._latency.setdefault(domain, collections.deque(maxlen=self._size)).append(latency_s)
            self._done.setdefault(domain, collections.deque(maxlen=self._size)).append((time.monotonic(), rows))

    def collect(self) -> Iterable[GaugeMetricFamily]:
        now = time.monotonic()
        rate = GaugeMetricFamily("prover_serve_checks_per_second", f"rows verified per second over the last {_RATE_WINDOW_S:g}s",
                                 labels=["domain"])
        lat = GaugeMetricFamily("prover_serve_request_latency_seconds", "request latency quantiles over recent requests",
                                labels=["domain", "quantile"])
        with self._lock:
            for domain, done in self._done.items():
                span = min(_RATE_WINDOW_S, max(now - self._t0, 1e-3))
                rate.add_metric([domain], sum(n for t, n in done if now - t <= _RATE_WINDOW_S) / span)
            for domain, values in self._latency.items():
                data = sorted(values)
                if not data:
                    continue
                qs = statistics.quantiles(data, n=100, method="inclusive") if len(data) > 1 else [data[0]] * 99
                lat.add_metric([domain, "0.5"], qs[49])
                lat.add_metric([domain, "0.99"], qs[98])
        yield rate
        yield lat


class Metrics:
    """What ``GET /metrics`` shows: queue depth, workers, checks by status, checks/s, latency."""

    def __init__(self, window: int = 2048) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.queue_rows = Gauge("prover_serve_queue_rows", "rows admitted and not yet finished (queued + running)", registry=r)
        self.inflight = Gauge("prover_serve_inflight_requests", "requests being verified", registry=r)
        self.workers = Gauge("prover_serve_workers", "checkers per served domain", ["domain"], registry=r)
        self.checks = Counter("prover_serve_checks", "rows verified, by verdict status", ["domain", "status"], registry=r)
        self.requests = Counter("prover_serve_requests", "HTTP requests answered, by route and status code", ["route", "code"], registry=r)
        self.rejected = Counter("prover_serve_rejected", "requests refused before any work", ["reason"], registry=r)
        self.latency = Histogram("prover_serve_request_seconds", "request latency", ["domain"], registry=r,
                                 buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600))
        self.window = _Window(window)
        r.register(self.window)

    def observe(self, domain: str, verdicts: list[Verdict], latency_s: float) -> None:
        for v in verdicts:
            self.checks.labels(domain, v.status.value).inc()
        self.latency.labels(domain).observe(latency_s)
        self.window.add(domain, latency_s, len(verdicts))

    def render(self) -> bytes:
        return generate_latest(self.registry)

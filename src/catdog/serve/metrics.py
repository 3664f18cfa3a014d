"""Prometheus metrics for the service, in a registry of its own (one per app)."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest

KNOWN_PATHS = ("/", "/v1/predict", "/v1/explain", "/v1/model", "/healthz", "/readyz", "/metrics", "/docs", "/openapi.json")


class ServiceMetrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self):
        self.registry = CollectorRegistry()
        self.requests = Counter("catdog_requests", "HTTP requests", ["path", "status"], registry=self.registry)
        self.errors = Counter("catdog_errors", "HTTP requests answered 4xx or 5xx", ["path", "status"], registry=self.registry)
        self.latency = Histogram("catdog_request_latency_seconds", "Request latency", ["path"], registry=self.registry,
                                 buckets=(0.005, 0.01, 0.02, 0.03, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0))
        self.batch_size = Histogram("catdog_batch_size", "Photos per model call", registry=self.registry,
                                    buckets=(1, 2, 4, 8, 16, 32, 64))

    def observe(self, path: str, status: int, seconds: float) -> None:
        # Unknown paths are folded together so random URLs cannot grow the label set without bound.
        known = path if path in KNOWN_PATHS else "other"
        self.requests.labels(known, str(status)).inc()
        if status >= 400:
            self.errors.labels(known, str(status)).inc()
        self.latency.labels(known).observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)

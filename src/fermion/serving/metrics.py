"""A replica's Prometheus metrics, in a registry of its own (one per app, so tests and
benchmarks can run several replicas in one process)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

LATENCY_BUCKETS = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.075,
    0.1,
    0.25,
    0.5,
    0.75,
    1,
    2.5,
    5,
    10,
)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)


class ReplicaMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "fermion_requests",
            "Inference requests by route and HTTP status",
            ["route", "code"],
            registry=self.registry,
        )
        self.errors = Counter(
            "fermion_request_errors",
            "Inference requests answered with an error (4xx or 5xx)",
            ["route"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "fermion_request_latency_seconds",
            "Time from request to response",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.batch_size = Histogram(
            "fermion_batch_size",
            "Inputs per forward pass",
            buckets=BATCH_BUCKETS,
            registry=self.registry,
        )
        self.batch_seconds = Histogram(
            "fermion_batch_seconds",
            "Time of one forward pass",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.queue_depth = Gauge(
            "fermion_queue_depth", "Inputs waiting for a forward pass", registry=self.registry
        )
        self.inputs = Counter("fermion_inputs", "Inputs predicted", registry=self.registry)

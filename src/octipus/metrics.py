"""Prometheus metrics (exposed at /metrics)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

DELIVERIES_ACCEPTED = Counter("octipus_deliveries_accepted_total", "Deliveries accepted and queued")
DELIVERIES_DUPLICATE = Counter(
    "octipus_deliveries_duplicate_total", "Deliveries dropped as duplicates"
)
DELIVERIES_REJECTED = Counter(
    "octipus_deliveries_rejected_total", "Ingress requests refused", ["reason"]
)
EXECUTIONS_FINISHED = Counter(
    "octipus_executions_total", "Executions that reached a state", ["status", "action"]
)
QUEUE_DEPTH = Gauge("octipus_queue_depth", "Executions queued or retrying (sampled)")
ACTION_SECONDS = Histogram(
    "octipus_action_duration_seconds",
    "Time an action run took",
    ["action"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
)

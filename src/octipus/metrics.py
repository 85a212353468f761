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
INGRESS_BATCH = Histogram(
    "octipus_ingress_batch_deliveries",
    "Deliveries committed together in one ingress transaction (group commit)",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
)
INGRESS_WRITE_SECONDS = Histogram(
    "octipus_ingress_write_seconds",
    "Time an ingress batch took to commit its transaction, and (SQLite) to sync the WAL after",
    ["phase"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
INGRESS_COMMIT_SECONDS = INGRESS_WRITE_SECONDS.labels("commit")
INGRESS_SYNC_SECONDS = INGRESS_WRITE_SECONDS.labels("sync")
ACTION_SECONDS = Histogram(
    "octipus_action_duration_seconds",
    "Time an action run took",
    ["action"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
)

"""Prometheus metrics (exposed at /metrics).

With several serving processes (octipus/serving/group.py) they are kept in prometheus_client's
multiprocess files, and `exposition()` sums every process's.
"""

from __future__ import annotations

import os

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

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
QUEUE_DEPTH = Gauge(
    "octipus_queue_depth",
    "Executions queued or retrying (sampled)",
    multiprocess_mode="mostrecent",
)
INGRESS_BATCH = Histogram(
    "octipus_ingress_batch_deliveries",
    "Deliveries committed together in one ingress transaction (group commit)",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
)
INGRESS_TRANSACTION = Histogram(
    "octipus_ingress_transaction_deliveries",
    "Deliveries in the transaction that stored an ingress batch (the ingress writer process"
    " merges the batches of every serving process; otherwise a transaction holds one batch)",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512),
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
RETENTION_PRUNED = Counter(
    "octipus_retention_pruned_total",
    "Rows retention removed: executions and deliveries deleted, bodies cleared",
    ["what"],
)


def exposition() -> bytes:
    """Every metric in Prometheus's text format: this process's, or all serving processes'."""
    if "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
        return generate_latest(REGISTRY)
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    return generate_latest(registry)

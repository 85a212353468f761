"""A verified request becomes a delivery row and one execution row per hook, in one transaction.

Several requests may share that transaction (ingress/batcher.py): each is answered after it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache, partial
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from octipus.db.connectors import NEW_WORK, connector_of
from octipus.hooks.cache import HookEntry
from octipus.hooks.conditions import conditions_hold
from octipus.ingress.encoded import BatchEncoder, insert


@dataclass(frozen=True)
class Outcome:
    """What the first state of a hook's execution is, decided before anything is written."""

    status: str  # queued | held | success | skipped
    result: dict[str, Any] | None = None


def decide(entry: HookEntry, event: str | None, context: dict[str, Any]) -> Outcome:
    """GitHub ping is logged as success; event filters and conditions can skip (DESIGN §3.1);
    a paused hook holds what it would run until it is resumed (alerts.py)."""
    if event == "ping" and "ping" not in entry.events:
        return Outcome("success", {"ping": True, "message": "GitHub ping received; action not run"})
    if entry.events and "*" not in entry.events and event not in entry.events:
        return Outcome("skipped", {"skipped": f"event '{event}' is not in triggerConfig.events"})
    if entry.conditions and not conditions_hold(entry.conditions, context):
        return Outcome("skipped", {"skipped": "conditions did not match"})
    return Outcome("held") if entry.paused else Outcome("queued")


@dataclass(frozen=True)
class Accepted:
    """A verified request ready to be written: its delivery row and each hook's first state."""

    delivery: dict[str, Any]
    planned: list[tuple[HookEntry, Outcome]]


@lru_cache(maxsize=4)
def encoder_for(dialect: sa.Dialect) -> BatchEncoder:
    """The batch encoder for a connection's dialect (its JSON serializer included)."""
    return BatchEncoder(dialect)


def _execute(conn: Connection, sql: str, values: Sequence[Any]) -> Any:
    return conn.exec_driver_sql(sql, tuple(values))


def record_deliveries(
    conn: Connection, items: Sequence[Accepted], default_max_attempts: int
) -> list[list[str]]:
    """Insert the deliveries and their executions; per item, the ids of the hooks that fired.

    Executions are unique per (hook, sender's delivery id): a duplicate inserts nothing for that
    hook, and a delivery whose every hook was a duplicate is deleted again in the same
    transaction. The caller owns the transaction. Blocking: it runs through
    `AsyncConnection.run_sync` (PostgreSQL); SQLite's writers call ingress/encoded.py `insert`
    on their own connections (ingress/sqlite_writer.py, ingress/writer_process.py).
    """
    connector = connector_of(conn)
    batch = encoder_for(conn.dialect).encode(BatchEncoder.plain(items, default_max_attempts))
    fired = insert(partial(_execute, conn), batch, connector.placeholder)
    if any(fired):
        connector.notify_sync(conn, NEW_WORK)  # wakes other processes' workers on commit
    return fired

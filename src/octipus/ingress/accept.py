"""A verified request becomes a delivery row and one execution row per hook, in one transaction.

Several requests may share that transaction (ingress/batcher.py): each is answered after it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from octipus.db.connectors import NEW_WORK, connector_of
from octipus.db.ids import new_id
from octipus.db.tables import Delivery, Execution
from octipus.hooks.cache import HookEntry
from octipus.hooks.conditions import conditions_hold
from octipus.ingress.encoded import fired_hooks


@dataclass(frozen=True)
class Outcome:
    """What the first state of a hook's execution is, decided before anything is written."""

    status: str  # queued | success | skipped
    result: dict[str, Any] | None = None


def decide(entry: HookEntry, event: str | None, context: dict[str, Any]) -> Outcome:
    """GitHub ping is logged as success; event filters and conditions can skip (DESIGN §3.1)."""
    if event == "ping" and "ping" not in entry.events:
        return Outcome("success", {"ping": True, "message": "GitHub ping received; action not run"})
    if entry.events and "*" not in entry.events and event not in entry.events:
        return Outcome("skipped", {"skipped": f"event '{event}' is not in triggerConfig.events"})
    if entry.conditions and not conditions_hold(entry.conditions, context):
        return Outcome("skipped", {"skipped": "conditions did not match"})
    return Outcome("queued")


@dataclass(frozen=True)
class Accepted:
    """A verified request ready to be written: its delivery row and each hook's first state."""

    delivery: dict[str, Any]
    planned: list[tuple[HookEntry, Outcome]]


def execution_rows(item: Accepted, default_max_attempts: int) -> list[dict[str, Any]]:
    """One `executions` row per planned hook, created at the delivery's arrival."""
    delivery = item.delivery
    now = delivery["received_at"]
    return [
        {
            "id": new_id(),
            "hook_id": entry.id,
            "delivery_pk": delivery["id"],
            "dedupe_key": delivery["delivery_id"],
            "source": "hook",
            "status": outcome.status,
            "attempts": 0,
            "max_attempts": entry.max_attempts or default_max_attempts,
            "trigger_type": "webhook",
            "action_type": entry.action,
            "result": outcome.result,
            "created_at": now,
            "run_after": now,
            "finished_at": None if outcome.status == "queued" else now,
            "duration_ms": None if outcome.status == "queued" else 0,
        }
        for entry, outcome in item.planned
    ]


def record_deliveries(
    conn: Connection, items: Sequence[Accepted], default_max_attempts: int
) -> list[list[str]]:
    """Insert the deliveries and their executions; per item, the ids of the hooks that fired.

    Executions are unique per (hook, sender's delivery id): a duplicate inserts nothing for that
    hook, and a delivery whose every hook was a duplicate is deleted again in the same
    transaction. The caller owns the transaction. Blocking: it runs
    through `AsyncConnection.run_sync` (PostgreSQL); SQLite uses ingress/sqlite_writer.py.
    """
    conn.execute(sa.insert(Delivery), [item.delivery for item in items])
    rows = [row for item in items for row in execution_rows(item, default_max_attempts)]
    connector = connector_of(conn)
    statement = (
        connector.insert(Execution)
        .on_conflict_do_nothing(index_elements=["hook_id", "dedupe_key"])
        .returning(Execution.delivery_pk, Execution.hook_id)
    )
    ids = [item.delivery["id"] for item in items]
    fired, unused = fired_hooks(ids, conn.execute(statement, rows))
    if unused:
        conn.execute(sa.delete(Delivery).where(Delivery.id.in_(unused)))
    if any(fired):
        connector.notify_sync(conn, NEW_WORK)  # wakes other processes' workers on commit
    return fired

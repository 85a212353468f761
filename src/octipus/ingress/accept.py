"""A verified request becomes a delivery row and one execution row per hook, in one transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from octipus.db.ids import new_id
from octipus.db.tables import Delivery, Execution
from octipus.hooks.cache import HookEntry
from octipus.hooks.conditions import conditions_hold


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


def _insert(session: AsyncSession) -> Any:
    return postgresql.insert if session.bind.dialect.name == "postgresql" else sqlite.insert


async def record_delivery(
    session: AsyncSession,
    delivery: dict[str, Any],
    planned: list[tuple[HookEntry, Outcome]],
    default_max_attempts: int,
) -> list[str]:
    """Insert the delivery and its executions; return the ids of hooks that were not duplicates.

    Executions are unique per (hook, sender's delivery id): a duplicate inserts nothing for that
    hook. The caller commits (or rolls back when every hook was a duplicate).
    """
    now = datetime.now(UTC)
    await session.execute(sa.insert(Delivery).values(received_at=now, **delivery))
    rows = [
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
        for entry, outcome in planned
    ]
    insert = _insert(session)(Execution).values(rows)
    inserted = await session.execute(
        insert.on_conflict_do_nothing(index_elements=["hook_id", "dedupe_key"]).returning(
            Execution.hook_id
        )
    )
    return [row[0] for row in inserted]

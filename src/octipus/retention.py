"""Retention, run by the leader: old finished executions, then the deliveries no execution
references, are deleted after OCTIPUS_RETENTION_DAYS; raw bodies may be cleared sooner
(OCTIPUS_RETENTION_BODY_DAYS). Queued, running and retrying executions are never touched, nor
the deliveries (and bodies) they reference.

Old rows are found through the primary keys: ids begin with their creation time (db/ids.py),
so "created before the cutoff" is a range of the primary key's index and retention adds no
index for every insert to maintain. The timestamps decide: an execution goes when it finished
before the cutoff, a delivery when it was received before it and nothing references it.
Each batch of `BATCH` rows is its own short transaction, so the ingress and the workers wait
for the database at most one batch at a time.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from octipus.background import PeriodicService
from octipus.config import Settings
from octipus.db.ids import first_id_at
from octipus.db.tables import FINISHED_STATUSES, Delivery, Execution, utcnow
from octipus.metrics import RETENTION_PRUNED
from octipus.search import forget

log = logging.getLogger(__name__)

BATCH = 1000  # rows per transaction


def old_finished_executions(cutoff: datetime) -> sa.Delete:
    """Delete up to BATCH executions that finished before `cutoff`."""
    batch = (
        sa.select(Execution.id)
        .where(
            Execution.id < first_id_at(cutoff),
            Execution.status.in_(FINISHED_STATUSES),
            Execution.finished_at < cutoff,
        )
        .order_by(Execution.id)
        .limit(BATCH)
    )
    return sa.delete(Execution).where(Execution.id.in_(batch.scalar_subquery()))


def old_unreferenced_deliveries(cutoff: datetime) -> sa.Select[str]:
    """Ids of up to BATCH deliveries received before `cutoff` that no execution references."""
    referenced = sa.exists().where(Execution.delivery_pk == Delivery.id)
    return (
        sa.select(Delivery.id)
        .where(Delivery.id < first_id_at(cutoff), Delivery.received_at < cutoff, ~referenced)
        .order_by(Delivery.id)
        .limit(BATCH)
    )


def old_bodies(after: str, cutoff: datetime) -> sa.Select[str]:
    """Ids of up to BATCH deliveries past `after`, received before `cutoff`, body still kept
    and needed by no execution waiting or running."""
    needed = sa.exists().where(
        Execution.delivery_pk == Delivery.id, Execution.status.not_in(FINISHED_STATUSES)
    )
    return (
        sa.select(Delivery.id)
        .where(
            Delivery.id > after,
            Delivery.id < first_id_at(cutoff),
            Delivery.received_at < cutoff,
            Delivery.body_pruned_at.is_(None),
            ~needed,
        )
        .order_by(Delivery.id)
        .limit(BATCH)
    )


def clear_bodies(ids: list[str], now: datetime) -> sa.Update:
    """Clear the raw bodies of the deliveries `ids`, noting when."""
    return sa.update(Delivery).where(Delivery.id.in_(ids)).values(body=b"", body_pruned_at=now)


@dataclass
class Pruned:
    """What one pass removed."""

    executions: int = 0
    deliveries: int = 0
    bodies: int = 0


class Retention(PeriodicService):
    """Prunes once when started (elected), then every OCTIPUS_RETENTION_INTERVAL_SECONDS."""

    name = "retention"

    def __init__(self, settings: Settings, sessions: async_sessionmaker[AsyncSession]):
        super().__init__()
        self.settings = settings
        self.sessions = sessions
        self.interval = settings.retention_interval_seconds
        # Bodies up to this id are cleared (or kept for good): each pass resumes here rather than
        # reading the cleared ones again. It starts over when this node is elected.
        self._bodies_done = ""

    async def tick(self) -> Pruned:
        return await self.prune()

    async def prune(self) -> Pruned:
        """One pass: every batch due now, then one log line (and the metrics)."""
        started, now, pruned = time.monotonic(), utcnow(), Pruned()
        days, body_days = self.settings.retention_days, self.settings.retention_body_days
        if days:
            cutoff = now - timedelta(days=days)
            pruned.executions = await self._batches(old_finished_executions(cutoff))
            pruned.deliveries = await self._delete_deliveries(cutoff)
        if body_days and (not days or body_days < days):
            pruned.bodies = await self._clear_bodies(now - timedelta(days=body_days), now)
        for what, count in vars(pruned).items():
            RETENTION_PRUNED.labels(what).inc(count)
        log.info(
            "retention pass",
            extra={**vars(pruned), "seconds": round(time.monotonic() - started, 3)},
        )
        return pruned

    async def _batches(self, statement: sa.Delete) -> int:
        """Run `statement` (one batch) in transactions of its own until it removes no row."""
        total = 0
        while True:
            async with self.sessions.begin() as session:
                removed = (await session.execute(statement)).rowcount  # type: ignore[attr-defined]
            total += removed
            if removed < BATCH:
                return total
            await asyncio.sleep(0)  # let the requests and the workers in between batches

    async def _delete_deliveries(self, cutoff: datetime) -> int:
        """Delete the old unreferenced deliveries, batch by batch, with their search words."""
        total = 0
        while True:
            async with self.sessions.begin() as session:
                ids = list((await session.scalars(old_unreferenced_deliveries(cutoff))).all())
                if ids:
                    await forget(session, ids)
                    await session.execute(sa.delete(Delivery).where(Delivery.id.in_(ids)))
            total += len(ids)
            if len(ids) < BATCH:
                return total
            await asyncio.sleep(0)

    async def _clear_bodies(self, cutoff: datetime, now: datetime) -> int:
        total = 0
        while True:
            async with self.sessions.begin() as session:
                ids = list((await session.scalars(old_bodies(self._bodies_done, cutoff))).all())
                if ids:
                    await forget(session, ids)
                    await session.execute(clear_bodies(ids, now))
            total += len(ids)
            if len(ids) < BATCH:
                return total
            self._bodies_done = ids[-1]
            await asyncio.sleep(0)

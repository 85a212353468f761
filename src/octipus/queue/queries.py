"""Every statement the durable queue runs, one named function each (DESIGN §4).

The `executions` table is the queue. A row moves queued/retrying → running (claimed with a
lease) → success | error | skipped | retrying. Writes that end a run are fenced by the claim
(worker id + attempt number), so a run whose lease expired cannot overwrite its successor.
Works on SQLite (one writer at a time: BEGIN IMMEDIATE) and PostgreSQL (row locks, SKIP LOCKED).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from octipus.db.ids import new_id
from octipus.db.tables import Delivery, Execution, Hook, User

NOTIFY_CHANNEL = "octipus_executions"
CLAIMABLE = ("queued", "retrying")
# Claims take this transaction-scoped advisory lock on PostgreSQL so that the per-hook limit
# holds across worker processes (two claimers cannot both see a free slot for the same hook).
CLAIM_LOCK_KEY = 0x6F637469707573  # "octipus"
LOST_RUN_ERROR = "The worker running the last attempt stopped (lease expired); no attempts left"


@dataclass(frozen=True)
class Claim:
    """A running execution held by one worker: `attempt` is its 1-based attempt number."""

    id: str
    hook_id: str
    attempt: int


@dataclass(frozen=True)
class ExecutionBundle:
    """One execution with what running it needs."""

    execution: Execution
    hook: Hook
    owner: User
    delivery: Delivery | None


def _is_postgres(session: AsyncSession) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _fenced(claim: Claim, worker_id: str) -> tuple[sa.ColumnElement[bool], ...]:
    return (
        Execution.id == claim.id,
        Execution.worker_id == worker_id,
        Execution.attempts == claim.attempt,
        Execution.status == "running",
    )


async def _update(session: AsyncSession, *where: sa.ColumnElement[bool], **values: Any) -> int:
    result = await session.execute(
        sa.update(Execution)
        .where(*where)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


async def notify_new_work(session: AsyncSession) -> None:
    """Wake LISTENing workers when this transaction commits (PostgreSQL; no-op on SQLite)."""
    if _is_postgres(session):
        await session.execute(sa.select(sa.func.pg_notify(NOTIFY_CHANNEL, "")))


def enqueue_execution(
    session: AsyncSession, hook: Hook, delivery_pk: str | None, source: str, max_attempts: int
) -> Execution:
    """Add a queued execution of `hook` for a stored delivery (replays; no dedupe key)."""
    execution = Execution(
        hook_id=hook.id,
        delivery_pk=delivery_pk,
        source=source,
        status="queued",
        max_attempts=max_attempts,
        trigger_type=hook.trigger,
        action_type=hook.action,
    )
    session.add(execution)
    return execution


def start_inline_execution(
    session: AsyncSession,
    hook: Hook,
    delivery_pk: str,
    source: str,
    worker_id: str,
    lease_seconds: float,
    now: datetime,
) -> tuple[Execution, Claim]:
    """Add an execution already claimed by `worker_id` (manual tests run in the request)."""
    execution = Execution(
        id=new_id(),
        hook_id=hook.id,
        delivery_pk=delivery_pk,
        source=source,
        status="running",
        attempts=1,
        max_attempts=1,
        trigger_type=hook.trigger,
        action_type=hook.action,
        created_at=now,
        run_after=now,
        started_at=now,
        lease_expires_at=now + timedelta(seconds=lease_seconds),
        worker_id=worker_id,
    )
    session.add(execution)
    return execution, Claim(execution.id, hook.id, 1)


async def claim_due_executions(
    session: AsyncSession,
    worker_id: str,
    *,
    limit: int,
    per_hook_limit: int,
    lease_seconds: float,
    now: datetime,
) -> list[Claim]:
    """Take up to `limit` due executions, oldest first per hook, at most `per_hook_limit` running
    per hook; each gets a lease until now + `lease_seconds`. Call inside a transaction."""
    if limit <= 0:
        return []
    if _is_postgres(session):
        await session.execute(sa.select(sa.func.pg_advisory_xact_lock(CLAIM_LOCK_KEY)))
    running = (
        sa.select(Execution.hook_id, sa.func.count().label("n"))
        .where(Execution.status == "running")
        .group_by(Execution.hook_id)
        .subquery()
    )
    place = (
        sa.func.row_number()
        .over(partition_by=Execution.hook_id, order_by=(Execution.created_at, Execution.id))
        .label("place")
    )
    due = (
        sa.select(Execution.id, Execution.hook_id, place)
        .where(Execution.status.in_(CLAIMABLE), Execution.run_after <= now)
        .subquery()
    )
    heads = (
        sa.select(due.c.id)
        .outerjoin(running, running.c.hook_id == due.c.hook_id)
        .where(due.c.place + sa.func.coalesce(running.c.n, 0) <= per_hook_limit)
    )
    rows = (
        await session.execute(
            sa.select(Execution.id, Execution.hook_id, Execution.attempts)
            .where(Execution.id.in_(heads))
            .order_by(Execution.created_at, Execution.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    ).all()
    if not rows:
        return []
    await _update(
        session,
        Execution.id.in_([r.id for r in rows]),
        status="running",
        attempts=Execution.attempts + 1,
        worker_id=worker_id,
        started_at=now,
        lease_expires_at=now + timedelta(seconds=lease_seconds),
    )
    return [Claim(r.id, r.hook_id, r.attempts + 1) for r in rows]


async def recover_stalled_executions(session: AsyncSession, now: datetime) -> tuple[int, int]:
    """Running executions whose lease expired (their worker died): claimable again, or `error`
    when they had no attempts left. Returns (requeued, failed)."""
    rows = (
        await session.execute(
            sa.select(Execution.id, Execution.attempts, Execution.max_attempts)
            .where(Execution.status == "running", Execution.lease_expires_at < now)
            .with_for_update(skip_locked=True)
        )
    ).all()
    exhausted = [r.id for r in rows if r.attempts >= r.max_attempts]
    requeue = [r.id for r in rows if r.attempts < r.max_attempts]
    if requeue:
        await _update(
            session,
            Execution.id.in_(requeue),
            status="queued",
            run_after=now,
            worker_id=None,
            lease_expires_at=None,
        )
    if exhausted:
        await _update(
            session,
            Execution.id.in_(exhausted),
            status="error",
            error=LOST_RUN_ERROR,
            finished_at=now,
            worker_id=None,
            lease_expires_at=None,
        )
    return len(requeue), len(exhausted)


async def renew_lease(
    session: AsyncSession, claim: Claim, worker_id: str, lease_seconds: float, now: datetime
) -> bool:
    """Heartbeat: extend a running execution's lease; False when the claim was lost."""
    until = now + timedelta(seconds=lease_seconds)
    return await _update(session, *_fenced(claim, worker_id), lease_expires_at=until) == 1


async def load_execution_bundle(session: AsyncSession, execution_id: str) -> ExecutionBundle | None:
    """The execution with its hook, the hook's owner and the delivery (None if not stored)."""
    row = (
        await session.execute(
            sa.select(Execution, Hook, User, Delivery)
            .join(Hook, Hook.id == Execution.hook_id)
            .join(User, User.id == Hook.owner_id)
            .outerjoin(Delivery, Delivery.id == Execution.delivery_pk)
            .where(Execution.id == execution_id)
        )
    ).first()
    return ExecutionBundle(*row) if row else None


async def reserve_hook_run(
    session: AsyncSession, hook: Hook, now: datetime, enforce_limits: bool
) -> bool:
    """Count a run on the hook (executionCount, lastExecutedAt); with `enforce_limits`, only if
    maxExecutions and cooldownMs allow it (checked atomically). False when they do not."""
    conditions = [Hook.id == hook.id]
    if enforce_limits and hook.max_executions is not None:
        conditions.append(Hook.execution_count < Hook.max_executions)
    if enforce_limits and hook.cooldown_ms > 0:
        cutoff = now - timedelta(milliseconds=hook.cooldown_ms)
        conditions.append(sa.or_(Hook.last_executed_at.is_(None), Hook.last_executed_at <= cutoff))
    result = await session.execute(
        sa.update(Hook)
        .where(*conditions)
        .values(
            execution_count=Hook.execution_count + 1,
            last_executed_at=now,
            updated_at=Hook.updated_at,  # a run is not an edit of the hook
        )
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount) == 1  # type: ignore[attr-defined]


async def record_hook_error(session: AsyncSession, hook_id: str, error: str | None) -> None:
    """Set the hook's lastError (None clears it after a success)."""
    await session.execute(
        sa.update(Hook)
        .where(Hook.id == hook_id)
        .values(last_error=error, updated_at=Hook.updated_at)
        .execution_options(synchronize_session=False)
    )


async def mark_succeeded(
    session: AsyncSession,
    claim: Claim,
    worker_id: str,
    result: dict[str, Any],
    duration_ms: int,
    now: datetime,
) -> bool:
    """The run succeeded; False if the claim was lost meanwhile."""
    return (
        await _update(
            session,
            *_fenced(claim, worker_id),
            status="success",
            result=result,
            error=None,
            duration_ms=duration_ms,
            finished_at=now,
            lease_expires_at=None,
        )
        == 1
    )


async def mark_retrying(
    session: AsyncSession,
    claim: Claim,
    worker_id: str,
    error: str,
    result: dict[str, Any] | None,
    duration_ms: int,
    run_after: datetime,
) -> bool:
    """The run failed in a retryable way; it becomes due again at `run_after`."""
    return (
        await _update(
            session,
            *_fenced(claim, worker_id),
            status="retrying",
            result=result,
            error=error,
            duration_ms=duration_ms,
            run_after=run_after,
            worker_id=None,
            lease_expires_at=None,
        )
        == 1
    )


async def mark_failed(
    session: AsyncSession,
    claim: Claim,
    worker_id: str,
    error: str,
    result: dict[str, Any] | None,
    duration_ms: int | None,
    now: datetime,
) -> bool:
    """The run failed for good (permanent error, or no attempts left)."""
    return (
        await _update(
            session,
            *_fenced(claim, worker_id),
            status="error",
            result=result,
            error=error,
            duration_ms=duration_ms,
            finished_at=now,
            lease_expires_at=None,
        )
        == 1
    )


async def mark_skipped(
    session: AsyncSession, claim: Claim, worker_id: str, reason: str, now: datetime
) -> bool:
    """The action was not run (hook disabled, maxExecutions reached, cooling down)."""
    return (
        await _update(
            session,
            *_fenced(claim, worker_id),
            status="skipped",
            result={"skipped": reason},
            duration_ms=0,
            finished_at=now,
            lease_expires_at=None,
        )
        == 1
    )


async def release_unfinished(session: AsyncSession, worker_id: str, now: datetime) -> int:
    """Graceful shutdown: this worker's running executions go back to `queued`, due now."""
    return await _update(
        session,
        Execution.worker_id == worker_id,
        Execution.status == "running",
        status="queued",
        run_after=now,
        worker_id=None,
        lease_expires_at=None,
    )


async def queue_depth(session: AsyncSession) -> int:
    """Executions waiting to run (queued or retrying, due or not)."""
    count = await session.scalar(
        sa.select(sa.func.count()).select_from(Execution).where(Execution.status.in_(CLAIMABLE))
    )
    return int(count or 0)

"""Every statement the durable queue runs, one named function each (DESIGN §4).

The `executions` table is the queue. A row moves queued/retrying → running (claimed with a
lease) → success | error | skipped | retrying. Writes that end a run are fenced by the claim
(worker id + attempt number), so a run whose lease expired cannot overwrite its successor.
Works on SQLite (one writer at a time: BEGIN IMMEDIATE) and PostgreSQL (row locks, SKIP LOCKED).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from octipus.db.ids import new_id
from octipus.db.tables import Delivery, Execution, Hook, User

NOTIFY_CHANNEL = "octipus_executions"
# PostgreSQL only: delivered to LISTENing workers when the enqueuing transaction commits.
NOTIFY_NEW_WORK = sa.select(sa.func.pg_notify(NOTIFY_CHANNEL, ""))
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


_EXECUTIONS = cast(sa.Table, Execution.__table__)
# The row is still running under this claim (worker id and attempt number): the fence.
_HELD_BY_CLAIM = (
    _EXECUTIONS.c.id == sa.bindparam("claim_id"),
    _EXECUTIONS.c.worker_id == sa.bindparam("claim_worker"),
    _EXECUTIONS.c.attempts == sa.bindparam("claim_attempt"),
    _EXECUTIONS.c.status == "running",
)
_RENEW_LEASE = (
    sa.update(_EXECUTIONS).where(*_HELD_BY_CLAIM).values(lease_expires_at=sa.bindparam("lease"))
)


def _claim_params(claim: Claim, worker_id: str) -> dict[str, Any]:
    return {"claim_id": claim.id, "claim_worker": worker_id, "claim_attempt": claim.attempt}


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
        await session.execute(NOTIFY_NEW_WORK)


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
    """Heartbeat of one run outside a worker (manual tests); False when the claim was lost."""
    until = now + timedelta(seconds=lease_seconds)
    result = await session.execute(
        _RENEW_LEASE, {**_claim_params(claim, worker_id), "lease": until}
    )
    return int(result.rowcount) == 1  # type: ignore[attr-defined]


async def renew_leases(
    session: AsyncSession, worker_id: str, lease_seconds: float, now: datetime
) -> int:
    """Heartbeat: extend the lease of every execution this worker is running."""
    return await _update(
        session,
        Execution.worker_id == worker_id,
        Execution.status == "running",
        lease_expires_at=now + timedelta(seconds=lease_seconds),
    )


async def load_execution_bundles(
    session: AsyncSession, execution_ids: list[str]
) -> dict[str, ExecutionBundle]:
    """The executions with their hooks, the hooks' owners and deliveries (None if not stored)."""
    rows = await session.execute(
        sa.select(Execution, Hook, User, Delivery)
        .join(Hook, Hook.id == Execution.hook_id)
        .join(User, User.id == Hook.owner_id)
        .outerjoin(Delivery, Delivery.id == Execution.delivery_pk)
        .where(Execution.id.in_(execution_ids))
    )
    return {row[0].id: ExecutionBundle(*row) for row in rows}


async def reserve_hook_run(session: AsyncSession, hook: Hook, now: datetime) -> bool:
    """Count a run on a hook with maxExecutions or cooldownMs, only if both allow it now
    (checked and counted in one statement); False when they do not."""
    conditions = [Hook.id == hook.id]
    if hook.max_executions is not None:
        conditions.append(Hook.execution_count < Hook.max_executions)
    if hook.cooldown_ms > 0:
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


_HOOKS = cast(sa.Table, Hook.__table__)
# A hook's lastError after a batch of runs, and the finished runs to add to its count.
_HOOK_OUTCOME = (
    sa.update(_HOOKS)
    .where(_HOOKS.c.id == sa.bindparam("hook_id"))
    .values(last_error=sa.bindparam("error"), updated_at=_HOOKS.c.updated_at)  # not an edit
)
_HOOK_OUTCOME_COUNTED = _HOOK_OUTCOME.values(
    execution_count=_HOOKS.c.execution_count + sa.bindparam("runs"),
    last_executed_at=sa.bindparam("now"),
)


async def record_hook_outcome(
    session: AsyncSession, hook_id: str, error: str | None, runs: int, now: datetime
) -> None:
    """Set the hook's lastError (None after a success) and add `runs` finished runs that were
    not counted when claimed to its executionCount (and lastExecutedAt)."""
    if runs:
        await session.execute(
            _HOOK_OUTCOME_COUNTED, {"hook_id": hook_id, "error": error, "runs": runs, "now": now}
        )
    else:
        await session.execute(_HOOK_OUTCOME, {"hook_id": hook_id, "error": error})


# How a run ends, fenced by its claim. Built once: workers run it for every finished attempt.
_FINISH_RUN = (
    sa.update(_EXECUTIONS)
    .where(*_HELD_BY_CLAIM)
    .values(
        status=sa.bindparam("new_status"),
        result=sa.bindparam("new_result"),
        error=sa.bindparam("new_error"),
        duration_ms=sa.bindparam("new_duration_ms"),
        finished_at=sa.bindparam("new_finished_at"),
        run_after=sa.bindparam("new_run_after"),
        lease_expires_at=None,
    )
)


async def _finish_run(
    session: AsyncSession,
    claim: Claim,
    worker_id: str,
    status: str,
    result: dict[str, Any] | None,
    error: str | None,
    duration_ms: int | None,
    finished_at: datetime | None,
    run_after: datetime,
) -> bool:
    outcome = await session.execute(
        _FINISH_RUN,
        {
            **_claim_params(claim, worker_id),
            "new_status": status,
            "new_result": result,
            "new_error": error,
            "new_duration_ms": duration_ms,
            "new_finished_at": finished_at,
            "new_run_after": run_after,
        },
    )
    return int(outcome.rowcount) == 1  # type: ignore[attr-defined]


async def mark_succeeded(
    session: AsyncSession,
    claim: Claim,
    worker_id: str,
    result: dict[str, Any],
    duration_ms: int,
    now: datetime,
) -> bool:
    """The run succeeded; False if the claim was lost meanwhile."""
    return await _finish_run(
        session, claim, worker_id, "success", result, None, duration_ms, now, now
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
    return await _finish_run(
        session, claim, worker_id, "retrying", result, error, duration_ms, None, run_after
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
    return await _finish_run(
        session, claim, worker_id, "error", result, error, duration_ms, now, now
    )


async def mark_skipped(
    session: AsyncSession, claim: Claim, worker_id: str, reason: str, now: datetime
) -> bool:
    """The action was not run (hook disabled, maxExecutions reached, cooling down)."""
    return await _finish_run(
        session, claim, worker_id, "skipped", {"skipped": reason}, None, 0, now, now
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

"""Every statement the durable queue runs, one named function each.

The `executions` table is the queue. A row moves queued/retrying → running (claimed with a
lease) → success | error | skipped | retrying. Writes that end a run are fenced by the claim
(worker id + attempt number), so a run whose lease expired cannot overwrite its successor.

How a claim works (`claim_due_executions`, inside the worker's round transaction):
1. Read the waiting hooks: each hook's oldest due row and how many are due (up to the free
   slots), through the partial index `ix_executions_due`; nothing is locked.
2. Count running executions per hook and per owner, only those whose lease holds: a run whose
   worker died occupies no slot, even before `recover_stalled_executions` requeues it.
3. Share the free slots between the hooks (queue/scheduling.py): round-robin by hook, within
   each hook's cap (`concurrency`, 1 for shell-tool hooks, else OCTIPUS_HOOK_CONCURRENCY).
4. Take each hook's oldest rows of its share and mark them running with a lease.

SQLite: the round holds SQLite's one write lock (BEGIN IMMEDIATE) from its first statement, so
claimers are serialized and every count is exact.

PostgreSQL (a connector with `row_locks`, db/connectors/): no lock is shared by all claimers.
Rows are taken with FOR UPDATE SKIP LOCKED, so workers claiming at once pass over each other's
rows instead of waiting. A hook with a cap needs more: between step 2 and its commit, a claimer
holds the connector's claim lock on that hook (`lock_for_claim`), followed by a recount, so two
workers never both fill the same free slot; claimers of different hooks, and of uncapped hooks,
never wait for each other. Lock order in every transaction: claim locks, then hook rows
(`lock_hooks`, id order), so no cycle (deadlock) can form. A hook's row is written per claim
only for hooks with maxExecutions or cooldownMs (`reserve_hook_run`); other hooks' lastError and
executionCount are written in batches (`record_hook_outcomes`, at most once a second per
worker), not on a busy hook's row every round.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from octipus.db.connectors import NEW_WORK, connector_of
from octipus.db.ids import new_id
from octipus.db.tables import WAITING_STATUSES, Attempt, Delivery, Execution, Hook, User
from octipus.queue.scheduling import Waiting, hook_cap, share_slots

CLAIMABLE = WAITING_STATUSES
LOST_RUN_ERROR = "The worker running the last attempt stopped (lease expired); no attempts left"


@dataclass(frozen=True)
class Claim:
    """A running execution held by one worker: `attempt` is its 1-based attempt number, with
    what running it needs from its row."""

    id: str
    hook_id: str
    attempt: int
    max_attempts: int
    source: str
    delivery_pk: str | None


@dataclass(frozen=True)
class Finish:
    """How one claimed run ends: the values its row gets, fenced by the claim."""

    claim: Claim
    status: str  # success | retrying | error | skipped
    result: dict[str, Any] | None
    error: str | None
    duration_ms: int | None
    finished_at: datetime | None
    run_after: datetime


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
_HOOKS = cast(sa.Table, Hook.__table__)

# Waiting (queued or retrying), with literals so that the planner can use the partial index
# `ix_executions_due` (db/tables.py WAITING_ROWS; a bound parameter would not match it).
_DUE_STATUS = _EXECUTIONS.c.status.in_([sa.literal_column(f"'{s}'") for s in CLAIMABLE])


def _due_of_hook(*columns: sa.ColumnElement[Any]) -> sa.Select[Any]:
    """`columns` of the enclosing query's hook's due executions, oldest first."""
    return (
        sa.select(*columns)
        .where(
            _EXECUTIONS.c.hook_id == _HOOKS.c.id,
            _DUE_STATUS,
            _EXECUTIONS.c.run_after <= sa.bindparam("now"),
        )
        .order_by(_EXECUTIONS.c.created_at, _EXECUTIONS.c.id)
    )


# Every hook with due executions: its owner, cap fields, oldest due row's age and how many are
# due up to `probe` (the free slots: more could not be taken). Index probes of
# `ix_executions_due` per hook (ORDER BY … LIMIT keeps planners on it); nothing is locked.
_HEAD_AGE = _due_of_hook(_EXECUTIONS.c.created_at).limit(1).scalar_subquery()
_WAITING_HOOKS = sa.select(
    _HOOKS.c.id,
    _HOOKS.c.owner_id,
    _HOOKS.c.concurrency,
    _HOOKS.c.action,
    _HOOKS.c.action_config["toolId"].as_string().label("tool"),
    _HEAD_AGE.label("head"),
    sa.select(sa.func.count())
    .select_from(
        _due_of_hook(_EXECUTIONS.c.id).limit(sa.bindparam("probe")).correlate(_HOOKS).subquery()
    )
    .scalar_subquery()
    .label("due"),
).where(_HEAD_AGE.is_not(None))

# Running executions per hook and owner whose lease holds: an expired lease (its worker died)
# occupies no slot, even before recovery requeues it.
_RUNNING = (
    sa.select(_EXECUTIONS.c.hook_id, _HOOKS.c.owner_id, sa.func.count().label("n"))
    .join(_HOOKS, _HOOKS.c.id == _EXECUTIONS.c.hook_id)
    .where(_EXECUTIONS.c.status == "running", _EXECUTIONS.c.lease_expires_at >= sa.bindparam("now"))
    .group_by(_EXECUTIONS.c.hook_id, _HOOKS.c.owner_id)
)

# The oldest `per_hook` due rows (id, hook_id, created_at) of each hook in `hook_ids`. SQLite has
# no LATERAL: the correlated `IN (… LIMIT n)` runs once per hook there. PostgreSQL locks them
# (SKIP LOCKED: rows another claimer holds are passed over, never waited for).
_OLDEST = _due_of_hook(_EXECUTIONS.c.id).limit(sa.bindparam("per_hook"))
_HEAD = _EXECUTIONS.alias("head")
_IN_HOOKS = _HOOKS.c.id.in_(sa.bindparam("hook_ids", expanding=True))
_DUE_ROWS = (
    sa.select(_HEAD.c.id, _HEAD.c.hook_id, _HEAD.c.created_at)
    .select_from(_HOOKS.join(_HEAD, _HEAD.c.id.in_(_OLDEST)))
    .where(_IN_HOOKS)
)
_LATERAL_ROWS = (
    _due_of_hook(_EXECUTIONS.c.id, _EXECUTIONS.c.hook_id, _EXECUTIONS.c.created_at)
    .limit(sa.bindparam("per_hook"))
    .with_for_update(skip_locked=True)
    .lateral("head")
)
_DUE_ROWS_LATERAL = (
    sa.select(_LATERAL_ROWS.c.id, _LATERAL_ROWS.c.hook_id, _LATERAL_ROWS.c.created_at)
    .select_from(_HOOKS.join(_LATERAL_ROWS, sa.true()))
    .where(_IN_HOOKS)
)
# Takes rows just read in the same transaction, which nothing else can change meanwhile (SQLite:
# the write lock; PostgreSQL: FOR UPDATE). A status condition here would tempt SQLite's planner
# into scanning every waiting row through `ix_executions_claim` instead of the primary key.
_CLAIM = (
    sa.update(_EXECUTIONS)
    .where(_EXECUTIONS.c.id.in_(sa.bindparam("ids", expanding=True)))
    .values(
        status="running",
        attempts=_EXECUTIONS.c.attempts + 1,
        worker_id=sa.bindparam("worker"),
        started_at=sa.bindparam("now"),
        lease_expires_at=sa.bindparam("lease"),
    )
    .returning(
        _EXECUTIONS.c.id,
        _EXECUTIONS.c.hook_id,
        _EXECUTIONS.c.attempts,
        _EXECUTIONS.c.max_attempts,
        _EXECUTIONS.c.source,
        _EXECUTIONS.c.delivery_pk,
    )
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
    """Wake listening workers in other processes when this transaction commits."""
    await connector_of(session).notify(session, NEW_WORK)


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
    return execution, Claim(execution.id, hook.id, 1, 1, source, delivery_pk)


async def claim_due_executions(
    session: AsyncSession,
    worker_id: str,
    *,
    limit: int,
    user_limit: int,
    default_hook_limit: int | None,
    lease_seconds: float,
    now: datetime,
) -> list[Claim]:
    """Take up to `limit` due executions, shared between the waiting hooks round-robin (see
    queue/scheduling.py), oldest first per hook, within each hook's cap; each gets a lease until
    now + `lease_seconds`. Call inside a transaction."""
    if limit <= 0:
        return []
    connector = connector_of(session)
    waiting = await _waiting_hooks(session, now, limit, default_hook_limit)
    if not waiting:
        return []
    running = await _running(session, now)
    shares = share_slots(waiting, *running, limit, user_limit)
    capped = {w.hook_id for w in waiting if w.cap is not None and w.hook_id in shares}
    if await connector.lock_for_claim(session, sorted(capped)):
        # Claims committed while this one waited count now; capped hooks not locked wait.
        waiting = [w for w in waiting if w.cap is None or w.hook_id in capped]
        shares = share_slots(waiting, *await _running(session, now), limit, user_limit)
    picked = await _oldest_due_rows(session, shares, now, connector.row_locks)
    if not picked:
        return []
    rows = await session.execute(
        _CLAIM,
        {
            "ids": picked,
            "worker": worker_id,
            "now": now,
            "lease": now + timedelta(seconds=lease_seconds),
        },
    )
    claimed = {
        r.id: Claim(r.id, r.hook_id, r.attempts, r.max_attempts, r.source, r.delivery_pk)
        for r in rows
    }
    return [claimed[i] for i in picked if i in claimed]


async def _waiting_hooks(
    session: AsyncSession, now: datetime, probe: int, default_hook_limit: int | None
) -> list[Waiting]:
    rows = await session.execute(_WAITING_HOOKS, {"now": now, "probe": probe})
    return [
        Waiting(
            r.id,
            r.owner_id,
            r.head,
            r.due,
            hook_cap(r.concurrency, r.action, r.tool, default_hook_limit),
        )
        for r in rows
    ]


async def _running(session: AsyncSession, now: datetime) -> tuple[Counter[str], Counter[str]]:
    """Running executions with a live lease, per hook and per owner."""
    hooks: Counter[str] = Counter()
    users: Counter[str] = Counter()
    for row in await session.execute(_RUNNING, {"now": now}):
        hooks[row.hook_id] += row.n
        users[row.owner_id] += row.n
    return hooks, users


async def _oldest_due_rows(
    session: AsyncSession, shares: dict[str, int], now: datetime, row_locks: bool
) -> list[str]:
    """Ids of each hook's oldest `shares[hook]` due rows, oldest first overall."""
    if not shares:
        return []
    rows = await session.execute(
        _DUE_ROWS_LATERAL if row_locks else _DUE_ROWS,
        {"now": now, "per_hook": max(shares.values()), "hook_ids": list(shares)},
    )
    taken: Counter[str] = Counter()
    picked = []
    for row in sorted(rows, key=lambda r: (r.created_at, r.id)):
        if taken[row.hook_id] < shares[row.hook_id]:
            taken[row.hook_id] += 1
            picked.append(row)
    return [row.id for row in picked]


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


async def load_hooks(session: AsyncSession, hook_ids: set[str]) -> dict[str, tuple[Hook, User]]:
    """The hooks with their owners, by hook id (one statement for a round's claims)."""
    rows = await session.execute(
        sa.select(Hook, User).join(User, User.id == Hook.owner_id).where(Hook.id.in_(hook_ids))
    )
    return {hook.id: (hook, owner) for hook, owner in rows.tuples()}


async def load_deliveries(session: AsyncSession, delivery_pks: set[str]) -> dict[str, Delivery]:
    """The stored deliveries, by primary key (those deleted meanwhile are missing)."""
    if not delivery_pks:
        return {}
    found = await session.scalars(sa.select(Delivery).where(Delivery.id.in_(delivery_pks)))
    return {delivery.id: delivery for delivery in found}


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


@dataclass
class HookTally:
    """Finished runs of one hook not yet written to its row: the last one's error and warning
    (None when it had none), how many to add to executionCount (those not counted when
    claimed), and when the last counted one ended."""

    error: str | None
    warning: str | None
    runs: int
    last_at: datetime | None

    def then(self, later: HookTally) -> HookTally:
        """This tally followed by `later` runs of the same hook."""
        return HookTally(
            later.error, later.warning, self.runs + later.runs, later.last_at or self.last_at
        )


# A hook's lastError and lastWarning after a batch of runs, and the finished runs to add to its
# count.
_HOOK_OUTCOME = (
    sa.update(_HOOKS)
    .where(_HOOKS.c.id == sa.bindparam("hook_id"))
    .values(
        last_error=sa.bindparam("error"),
        last_warning=sa.bindparam("warning"),
        updated_at=_HOOKS.c.updated_at,  # not an edit
    )
)
_HOOK_OUTCOME_COUNTED = _HOOK_OUTCOME.values(
    execution_count=_HOOKS.c.execution_count + sa.bindparam("runs"),
    last_executed_at=sa.bindparam("last_at"),
)


async def lock_hooks(session: AsyncSession, hook_ids: Collection[str]) -> None:
    """Lock these hooks' rows in id order, before any of them is written, so that transactions
    writing several hooks never wait on each other in a cycle (the connector's: a claim's locks
    come before this)."""
    await connector_of(session).lock_hook_rows(session, sorted(hook_ids))


def _tally_params(hook_id: str, tally: HookTally) -> dict[str, Any]:
    return {"hook_id": hook_id, "error": tally.error, "warning": tally.warning}


async def record_hook_outcomes(session: AsyncSession, tallies: dict[str, HookTally]) -> None:
    """Write the hooks' lastError, lastWarning, executionCount and lastExecutedAt for runs
    that ended."""
    await lock_hooks(session, tallies.keys())
    for hook_id in sorted(tallies):
        tally = tallies[hook_id]
        if tally.runs:
            params = {"runs": tally.runs, "last_at": tally.last_at}
            await session.execute(
                _HOOK_OUTCOME_COUNTED, {**_tally_params(hook_id, tally), **params}
            )
        else:
            await session.execute(_HOOK_OUTCOME, _tally_params(hook_id, tally))


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


def _finish_params(finish: Finish, worker_id: str) -> dict[str, Any]:
    return {
        **_claim_params(finish.claim, worker_id),
        "new_status": finish.status,
        "new_result": finish.result,
        "new_error": finish.error,
        "new_duration_ms": finish.duration_ms,
        "new_finished_at": finish.finished_at,
        "new_run_after": finish.run_after,
    }


async def finish_runs(
    session: AsyncSession, worker_id: str, finishes: Sequence[Finish]
) -> list[bool]:
    """End these runs in one statement, each fenced by its claim; per run, False when its claim
    was lost meanwhile (the lease expired and the row was recovered or taken over)."""
    if not finishes:
        return []
    result = await session.execute(_FINISH_RUN, [_finish_params(f, worker_id) for f in finishes])
    dialect = session.get_bind().dialect
    updated = int(result.rowcount)  # type: ignore[attr-defined]
    if updated == len(finishes) and (len(finishes) == 1 or dialect.supports_sane_multi_rowcount):
        return [True] * len(finishes)
    return await _finished_by(session, worker_id, finishes)


async def _finished_by(
    session: AsyncSession, worker_id: str, finishes: Sequence[Finish]
) -> list[bool]:
    """Which of `finishes` this transaction wrote: their rows still name this worker and attempt
    and hold the status written (rows whose claim was lost never match all three)."""
    rows = await session.execute(
        sa.select(
            _EXECUTIONS.c.id, _EXECUTIONS.c.worker_id, _EXECUTIONS.c.attempts, _EXECUTIONS.c.status
        ).where(_EXECUTIONS.c.id.in_([f.claim.id for f in finishes]))
    )
    now = {row.id: (row.worker_id, row.attempts, row.status) for row in rows}
    return [now.get(f.claim.id) == (worker_id, f.claim.attempt, f.status) for f in finishes]


async def record_attempts(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    """Add the attempt log's rows for a round's finished runs, in one INSERT."""
    if rows:
        await session.execute(sa.insert(Attempt).values(list(rows)))


async def retry_now(session: AsyncSession, execution_id: str, now: datetime) -> bool:
    """A `retrying` or `error` execution runs again now (an `error` one gets one more attempt);
    False when it is in neither status (anymore)."""
    updated = await _update(
        session,
        Execution.id == execution_id,
        Execution.status.in_(("retrying", "error")),
        status="queued",
        run_after=now,
        finished_at=None,
        max_attempts=sa.case(
            (Execution.attempts >= Execution.max_attempts, Execution.attempts + 1),
            else_=Execution.max_attempts,
        ),
    )
    return updated == 1


async def cancel_waiting(session: AsyncSession, execution_id: str, now: datetime) -> bool:
    """A queued or retrying execution will not run: `cancelled`; False when it is not waiting
    (a worker may have claimed it meanwhile)."""
    updated = await _update(
        session,
        Execution.id == execution_id,
        Execution.status.in_(WAITING_STATUSES),
        status="cancelled",
        finished_at=now,
    )
    return updated == 1


async def mark_skipped(
    session: AsyncSession, claim: Claim, worker_id: str, reason: str, now: datetime
) -> bool:
    """The action was not run (hook disabled, maxExecutions reached, cooling down)."""
    skipped = Finish(claim, "skipped", {"skipped": reason}, None, 0, now, now)
    return (await finish_runs(session, worker_id, [skipped]))[0]


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

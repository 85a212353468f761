"""Run one execution: hook limits when it is claimed, the action, the outcome to store.

The worker prepares a batch of claims inside its claim transaction (`prepare_runs`), runs each
(`attempt`) and stores the outcomes in batches (`store_outcomes`). Manual tests do the same
three steps for one execution inside the request (`run_now`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from octipus.actions.base import ActionContext, ActionError, RetryableError
from octipus.actions.registry import get_action
from octipus.channels.linking import verified_bindings_of
from octipus.db.ids import new_id
from octipus.db.tables import ChannelBinding, Delivery, Hook, User, utcnow
from octipus.hooks.context import trigger_context, webhook_context
from octipus.metrics import ACTION_SECONDS, EXECUTIONS_FINISHED
from octipus.queue import queries
from octipus.queue.backoff import retry_delay
from octipus.queue.queries import Claim, Finish, HookTally
from octipus.runtime import Runtime

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Run:
    """A claimed execution that may run, with what running it needs."""

    claim: Claim
    hook: Hook
    owner: User
    delivery: Delivery | None
    counted: bool  # already counted on the hook when claimed (maxExecutions/cooldownMs)
    owner_bindings: list[ChannelBinding] | None = None  # for actions that use them


@dataclass(frozen=True)
class Outcome:
    """How one attempt ended, before it is stored."""

    status: str  # success | retrying | error
    result: dict[str, Any] | None
    error: str | None
    duration_ms: int
    run_after: datetime | None = None
    started_at: datetime | None = None
    exchange: dict[str, Any] | None = None  # what the action sent and got back


async def prepare_runs(session: AsyncSession, claims: list[Claim], worker_id: str) -> list[Run]:
    """In the claim transaction: load the claims' hooks, owners, deliveries and (for actions
    that use them) the owners' verified bindings, each once, and mark `skipped` those the hook
    forbids now. Returns the runs to start, in claim order."""
    hooks = await queries.load_hooks(session, {c.hook_id for c in claims})
    deliveries = await queries.load_deliveries(
        session, {c.delivery_pk for c in claims if c.delivery_pk}
    )
    wanted = {hook.id for hook, _ in hooks.values() if _uses_owner_bindings(hook)}
    bindings = await verified_bindings_of(
        session, {owner.id for hook, owner in hooks.values() if hook.id in wanted}
    )
    runs: list[Run] = []
    now = utcnow()
    await queries.lock_hooks(
        session,
        {
            c.hook_id
            for c in claims
            if c.hook_id in hooks and _counted_at_claim(hooks[c.hook_id][0], c)
        },
    )
    for claim in claims:
        if claim.hook_id not in hooks:  # deleted together with its hook
            continue
        hook, owner = hooks[claim.hook_id]
        reason, counted = await _hook_limits(session, hook, claim, now)
        if reason is None:
            delivery = deliveries.get(claim.delivery_pk) if claim.delivery_pk else None
            owner_bindings = bindings[owner.id] if hook.id in wanted else None
            runs.append(Run(claim, hook, owner, delivery, counted, owner_bindings))
        elif await queries.mark_skipped(session, claim, worker_id, reason, now):
            EXECUTIONS_FINISHED.labels("skipped", hook.action).inc()
    return runs


def _uses_owner_bindings(hook: Hook) -> bool:
    try:
        return get_action(hook.action).uses_owner_bindings
    except KeyError:  # an unknown action fails when it runs
        return False


async def _hook_limits(
    session: AsyncSession, hook: Hook, claim: Claim, now: datetime
) -> tuple[str | None, bool]:
    """(why the action must not run, whether the run was counted on the hook).

    Only deliveries (source `hook`) obey the hook's switch, maxExecutions and cooldownMs;
    replays and manual tests are explicit requests. Limits apply to the first attempt.
    """
    if claim.source != "hook":
        return None, False
    if not hook.is_enabled:
        return "hook is disabled", False
    if not _counted_at_claim(hook, claim):
        return None, False
    if await queries.reserve_hook_run(session, hook, now):
        return None, True
    await session.refresh(hook)
    if hook.max_executions is not None and hook.execution_count >= hook.max_executions:
        return f"maxExecutions ({hook.max_executions}) reached", False
    return f"cooldownMs ({hook.cooldown_ms}) has not passed since the last run", False


def _counted_at_claim(hook: Hook, claim: Claim) -> bool:
    """Whether claiming this run counts it on the hook's row at once: a delivery's first attempt
    on a hook with maxExecutions or cooldownMs (other hooks' rows are written in batches)."""
    limited = hook.max_executions is not None or hook.cooldown_ms > 0
    return claim.source == "hook" and claim.attempt == 1 and hook.is_enabled and limited


async def attempt(runtime: Runtime, run: Run) -> Outcome:
    """Run the action once and classify how it ended; never raises for an action's failure."""
    claim, action = run.claim, run.hook.action
    ctx = _context(runtime, run)
    started, started_at = time.perf_counter(), utcnow()

    def ended(status: str, result: dict[str, Any] | None, error: str | None) -> Outcome:
        took = int((time.perf_counter() - started) * 1000)
        return Outcome(status, result, error, took, started_at=started_at, exchange=ctx.exchange)

    try:
        result = await _run_action(ctx, run)
    except RetryableError as exc:
        if claim.attempt >= claim.max_attempts:
            return ended("error", exc.result, f"{exc} (gave up after {claim.attempt} attempts)")
        delay = retry_delay(claim.attempt, exc.retry_after, runtime.settings.retry_base_scale)
        retrying = ended("retrying", exc.result, str(exc))
        return replace(retrying, run_after=utcnow() + timedelta(seconds=delay))
    except ActionError as exc:
        return ended("error", exc.result, str(exc))
    except Exception as exc:  # an action's bug must fail its execution, never the worker
        log.exception("action crashed", extra={"execution": claim.id, "action": action})
        return ended("error", None, f"Internal error: {type(exc).__name__}: {exc}")
    finally:
        ACTION_SECONDS.labels(action).observe(time.perf_counter() - started)
    return ended("success", result, None)


def _context(runtime: Runtime, run: Run) -> ActionContext:
    """What the action may use; the trigger context is empty when the delivery is gone."""
    claim, hook = run.claim, run.hook
    trigger = {}
    if run.delivery is not None:
        trigger = trigger_context(webhook_context(run.delivery), hook, claim.id)
    return ActionContext(
        runtime=runtime,
        hook=hook,
        owner=run.owner,
        execution_id=claim.id,
        attempt=claim.attempt,
        source=claim.source,
        trigger=trigger,
        owner_bindings=run.owner_bindings,
    )


async def _run_action(ctx: ActionContext, run: Run) -> dict[str, Any]:
    """Call the hook's action."""
    if run.delivery is None:
        raise ActionError("The delivery of this execution is no longer stored")
    try:
        action = get_action(run.hook.action)
    except KeyError:
        raise ActionError(f"Unknown action type '{run.hook.action}'") from None
    return await action.run(ctx)


def _finish(run: Run, outcome: Outcome, now: datetime) -> Finish:
    """The row values for how `run` ended; a retry ends nothing and is due at its `run_after`."""
    if outcome.status == "retrying":
        assert outcome.run_after is not None
        finished_at, due = None, outcome.run_after
    else:
        finished_at, due = now, now
    result = (outcome.result or {}) if outcome.status == "success" else outcome.result
    return Finish(
        run.claim, outcome.status, result, outcome.error, outcome.duration_ms, finished_at, due
    )


def _warning(result: dict[str, Any] | None) -> str | None:
    """The hook's lastWarning from a run's `result.warnings` (None when it has none)."""
    warnings = (result or {}).get("warnings")
    if not isinstance(warnings, list) or not warnings:
        return None
    return "; ".join(str(w) for w in warnings)


def _attempt_row(run: Run, outcome: Outcome, now: datetime) -> dict[str, Any]:
    """The attempt log's row for how `run` ended."""
    return {
        "id": new_id(),
        "execution_id": run.claim.id,
        "number": run.claim.attempt,
        "started_at": outcome.started_at,
        "finished_at": now,
        "duration_ms": outcome.duration_ms,
        "outcome": outcome.status,
        "error": outcome.error,
        "exchange": outcome.exchange,
        "next_attempt_at": outcome.run_after,
    }


async def store_outcomes(
    session: AsyncSession, finished: list[tuple[Run, Outcome]], worker_id: str
) -> dict[str, HookTally]:
    """Write the outcomes (one statement, each fenced by its claim; a run whose claim was lost
    meanwhile is dropped). Returns, per hook, what to write to its row (`record_hook_outcomes`),
    which the worker batches rather than updating a busy hook's row every round."""
    now = utcnow()
    stored = await queries.finish_runs(
        session, worker_id, [_finish(run, outcome, now) for run, outcome in finished]
    )
    kept = [(run, outcome) for (run, outcome), ok in zip(finished, stored, strict=True) if ok]
    await queries.record_attempts(session, [_attempt_row(r, o, now) for r, o in kept])
    tallies: dict[str, HookTally] = {}
    for (run, outcome), ok in zip(finished, stored, strict=True):
        if not ok:
            log.warning("execution claim lost; outcome dropped", extra={"execution": run.claim.id})
            continue
        # A run counts once, when its first attempt ends: deliveries still retrying are runs.
        counts = run.claim.attempt == 1 and not run.counted
        tally = HookTally(
            outcome.error, _warning(outcome.result), int(counts), now if counts else None
        )
        hook_id = run.claim.hook_id
        tallies[hook_id] = tallies[hook_id].then(tally) if hook_id in tallies else tally
        EXECUTIONS_FINISHED.labels(outcome.status, run.hook.action).inc()
    return tallies


async def run_now(runtime: Runtime, hook: Hook, delivery: Delivery, source: str) -> str:
    """Store a new `delivery` with an execution of `hook` for it, and run that execution in this
    task (manual tests): one attempt, no retries. Returns the execution id."""
    worker_id = f"inline-{new_id()}"
    async with runtime.sessions.begin() as session:
        session.add(delivery)
        execution, claim = queries.start_inline_execution(
            session, hook, delivery.id, source, worker_id, runtime.settings.lease_seconds, utcnow()
        )
        runs = await prepare_runs(session, [claim], worker_id)
    for run in runs:
        async with _lease_kept(runtime, run.claim, worker_id):
            outcome = await attempt(runtime, run)
        async with runtime.sessions.begin() as session:
            tallies = await store_outcomes(session, [(run, outcome)], worker_id)
            await queries.record_hook_outcomes(session, tallies)
    return execution.id


@asynccontextmanager
async def _lease_kept(runtime: Runtime, claim: Claim, worker_id: str) -> AsyncIterator[None]:
    """Renew an inline run's lease every third of its length (the worker renews its own runs)."""
    seconds = runtime.settings.lease_seconds

    async def heartbeat() -> None:
        while True:
            await asyncio.sleep(seconds / 3)
            try:
                async with runtime.sessions.begin() as session:
                    kept = await queries.renew_lease(session, claim, worker_id, seconds, utcnow())
            except Exception:  # a database hiccup: the next beat tries again
                log.warning("lease renewal failed", exc_info=True, extra={"execution": claim.id})
                continue
            if not kept:
                log.warning("execution lease lost", extra={"execution": claim.id})
                return

    task = asyncio.create_task(heartbeat())
    try:
        yield
    finally:
        task.cancel()
        await asyncio.wait([task])

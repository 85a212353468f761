"""Run one claimed execution to its next state: hook limits, the action, the stored outcome."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from octipus.actions.base import ActionContext, ActionError, RetryableError
from octipus.actions.registry import get_action
from octipus.db.ids import new_id
from octipus.db.tables import Delivery, Hook, utcnow
from octipus.hooks.context import trigger_context, webhook_context
from octipus.metrics import ACTION_SECONDS, EXECUTIONS_FINISHED
from octipus.queue import queries
from octipus.queue.backoff import retry_delay
from octipus.queue.queries import Claim, ExecutionBundle
from octipus.runtime import Runtime

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    """How one attempt ended, before it is stored."""

    status: str  # success | retrying | error
    result: dict[str, Any] | None
    error: str | None
    duration_ms: int
    run_after: datetime | None = None


async def run_claimed(runtime: Runtime, claim: Claim, worker_id: str) -> str | None:
    """Run a claimed execution and store its outcome; the new status, None if nothing ran."""
    async with runtime.sessions.begin() as session:
        bundle = await queries.load_execution_bundle(session, claim.id)
        if bundle is None:  # deleted together with its hook
            return None
        reason = await _skip_reason(session, bundle, claim)
        if reason is not None:
            if await queries.mark_skipped(session, claim, worker_id, reason, utcnow()):
                EXECUTIONS_FINISHED.labels("skipped", bundle.hook.action).inc()
                return "skipped"
            return None
    async with _lease_kept(runtime, claim, worker_id):
        outcome = await _attempt(runtime, bundle, claim)
    async with runtime.sessions.begin() as session:
        if not await _store(session, claim, worker_id, outcome):
            log.warning("execution claim lost; outcome dropped", extra={"execution": claim.id})
            return None
        await queries.record_hook_error(
            session, claim.hook_id, outcome.error if outcome.status != "success" else None
        )
    EXECUTIONS_FINISHED.labels(outcome.status, bundle.hook.action).inc()
    return outcome.status


async def run_now(runtime: Runtime, hook: Hook, delivery: Delivery, source: str) -> str:
    """Store a new `delivery` with an execution of `hook` for it, and run that execution in this
    task (manual tests): one attempt, no retries. Returns the execution id."""
    worker_id = f"inline-{new_id()}"
    async with runtime.sessions.begin() as session:
        session.add(delivery)
        execution, claim = queries.start_inline_execution(
            session, hook, delivery.id, source, worker_id, runtime.settings.lease_seconds, utcnow()
        )
    await run_claimed(runtime, claim, worker_id)
    return execution.id


async def _skip_reason(session: AsyncSession, bundle: ExecutionBundle, claim: Claim) -> str | None:
    """Why the action must not run now; counts the run on the hook when it may.

    Only deliveries (source `hook`) obey the hook's switch, maxExecutions and cooldownMs;
    replays and manual tests are explicit requests. Limits are checked on the first attempt.
    """
    hook, limited = bundle.hook, bundle.execution.source == "hook"
    if limited and not hook.is_enabled:
        return "hook is disabled"
    if claim.attempt > 1 or await queries.reserve_hook_run(session, hook, utcnow(), limited):
        return None
    if hook.max_executions is not None and hook.execution_count >= hook.max_executions:
        return f"maxExecutions ({hook.max_executions}) reached"
    return f"cooldownMs ({hook.cooldown_ms}) has not passed since the last run"


async def _attempt(runtime: Runtime, bundle: ExecutionBundle, claim: Claim) -> Outcome:
    """Run the action once and classify how it ended; never raises for an action's failure."""
    execution, action = bundle.execution, bundle.hook.action
    started = time.perf_counter()

    def took() -> int:
        return int((time.perf_counter() - started) * 1000)

    try:
        result = await _run_action(runtime, bundle, claim)
    except RetryableError as exc:
        if claim.attempt >= execution.max_attempts:
            error = f"{exc} (gave up after {claim.attempt} attempts)"
            return Outcome("error", exc.result, error, took())
        delay = retry_delay(claim.attempt, exc.retry_after, runtime.settings.retry_base_scale)
        return Outcome(
            "retrying", exc.result, str(exc), took(), utcnow() + timedelta(seconds=delay)
        )
    except ActionError as exc:
        return Outcome("error", exc.result, str(exc), took())
    except Exception as exc:  # an action's bug must fail its execution, never the worker
        log.exception("action crashed", extra={"execution": execution.id, "action": action})
        return Outcome("error", None, f"Internal error: {type(exc).__name__}: {exc}", took())
    finally:
        ACTION_SECONDS.labels(action).observe(time.perf_counter() - started)
    return Outcome("success", result, None, took())


async def _run_action(runtime: Runtime, bundle: ExecutionBundle, claim: Claim) -> dict[str, Any]:
    """Build the trigger context and call the hook's action."""
    execution, hook = bundle.execution, bundle.hook
    if bundle.delivery is None:
        raise ActionError("The delivery of this execution is no longer stored")
    try:
        action = get_action(hook.action)
    except KeyError:
        raise ActionError(f"Unknown action type '{hook.action}'") from None
    ctx = ActionContext(
        runtime=runtime,
        hook=hook,
        owner=bundle.owner,
        execution_id=execution.id,
        attempt=claim.attempt,
        source=execution.source,
        trigger=trigger_context(webhook_context(bundle.delivery), hook, execution.id),
    )
    return await action.run(ctx)


async def _store(session: AsyncSession, claim: Claim, worker_id: str, outcome: Outcome) -> bool:
    """Write the outcome, fenced by the claim; False when the claim was lost."""
    if outcome.status == "success":
        return await queries.mark_succeeded(
            session, claim, worker_id, outcome.result or {}, outcome.duration_ms, utcnow()
        )
    if outcome.status == "retrying":
        assert outcome.run_after is not None and outcome.error is not None
        return await queries.mark_retrying(
            session,
            claim,
            worker_id,
            outcome.error,
            outcome.result,
            outcome.duration_ms,
            outcome.run_after,
        )
    return await queries.mark_failed(
        session,
        claim,
        worker_id,
        outcome.error or "",
        outcome.result,
        outcome.duration_ms,
        utcnow(),
    )


@asynccontextmanager
async def _lease_kept(runtime: Runtime, claim: Claim, worker_id: str) -> AsyncIterator[None]:
    """Renew the claim's lease every third of its length while the action runs (heartbeat)."""
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

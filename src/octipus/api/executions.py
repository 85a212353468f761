"""Execution log (DESIGN §3.4): list, show, replay, and the hooks' test-fire endpoint."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
import sqlalchemy as sa
from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field

from octipus.api.deps import RuntimeDep, SessionDep, UserDep
from octipus.api.errors import ApiError
from octipus.api.execution_filters import COUNT_CAP, LogFilter, log_filter, visible
from octipus.api.execution_models import (
    ExecutionList,
    ExecutionPage,
    ExecutionReply,
    OneExecution,
    ReplayCount,
    ReplayRequest,
)
from octipus.api.responses import StoredJSONResponse
from octipus.db.ids import new_id
from octipus.db.tables import Attempt, Delivery, Execution, Hook, User, utcnow
from octipus.hooks.context import display_context
from octipus.hooks.service import get_owned_hook
from octipus.ingress import event as events
from octipus.ingress.headers import safe_headers
from octipus.jsonbounds import json_problem
from octipus.queue import queries
from octipus.queue.executor import run_now

router = APIRouter(tags=["executions"])

MAX_OFFSET = 10**9
MAX_BULK_REPLAY = COUNT_CAP  # executions one bulk replay may queue
LimitQuery = Query(50, ge=1, le=500, description="Page size (1-500)")
OffsetQuery = Query(0, ge=0, le=MAX_OFFSET, description="Executions to skip, newest first (0-1e9)")
FilterDep = Depends(log_filter)


class TestFire(BaseModel):
    """`POST /api/hooks/{id}/test`: a payload and headers to run the hook's action with."""

    model_config = ConfigDict(extra="forbid")

    data: Any = Field(default=None, description="The payload (JSON); default {}")
    headers: dict[str, str] = Field(default_factory=dict, max_length=100)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def execution_json(
    execution: Execution, hook_name: str, delivery: Delivery | None
) -> dict[str, Any]:
    """The API shape of one execution."""
    waiting = execution.status in queries.CLAIMABLE
    return {
        "id": execution.id,
        "hookId": execution.hook_id,
        "hookName": hook_name,
        "deliveryId": (delivery.delivery_id or delivery.id) if delivery else None,
        "deliveryPk": execution.delivery_pk,
        "source": execution.source,
        "status": execution.status,
        "attempts": execution.attempts,
        "maxAttempts": execution.max_attempts,
        "triggerType": execution.trigger_type,
        "actionType": execution.action_type,
        "result": execution.result,
        "error": execution.error,
        "durationMs": execution.duration_ms,
        "triggerContext": display_context(delivery) if delivery else None,
        "createdAt": _iso(execution.created_at),
        "startedAt": _iso(execution.started_at),
        "finishedAt": _iso(execution.finished_at),
        "nextAttemptAt": _iso(execution.run_after) if waiting else None,
        "replayOf": execution.replay_of,
    }


def attempt_json(attempt: Attempt) -> dict[str, Any]:
    """The API shape of one attempt."""
    exchange = attempt.exchange or {}
    return {
        "number": attempt.number,
        "outcome": attempt.outcome,
        "startedAt": _iso(attempt.started_at),
        "finishedAt": _iso(attempt.finished_at),
        "durationMs": attempt.duration_ms,
        "error": attempt.error,
        "request": exchange.get("request"),
        "response": exchange.get("response"),
        "nextAttemptAt": _iso(attempt.next_attempt_at),
    }


def _joined(*columns: Any) -> sa.Select:
    """Executions with their hook and (outer) delivery, for the log's filters."""
    return (
        sa.select(*columns)
        .select_from(Execution)
        .join(Hook, Hook.id == Execution.hook_id)
        .outerjoin(Delivery, Delivery.id == Execution.delivery_pk)
    )


async def _count(session: SessionDep, user: User, wanted: LogFilter, *more: Any) -> int:
    """Executions matching, counted up to COUNT_CAP + 1, joining only what the filters read."""
    query = sa.select(sa.literal(1)).select_from(Execution)
    if not user.is_admin:
        query = query.join(Hook, Hook.id == Execution.hook_id)
    if more:
        query = query.outerjoin(Delivery, Delivery.id == Execution.delivery_pk)
    matching = visible(query, user).where(*wanted.conditions(session), *more)
    counted = sa.select(sa.func.count()).select_from(matching.limit(COUNT_CAP + 1).subquery())
    return int(await session.scalar(counted) or 0)


async def _page(
    session: SessionDep, user: User, limit: int, offset: int, wanted: LogFilter
) -> dict[str, Any]:
    """One page of executions, newest first, with how many match (up to COUNT_CAP)."""
    total = await _count(session, user, wanted)
    newest_first = (Execution.created_at.desc(), Execution.id.desc())
    # The page's ids first, then their rows: sorting the matches carries no bodies.
    page = (
        visible(_joined(Execution.id), user)
        .where(*wanted.conditions(session))
        .order_by(*newest_first)
        .limit(limit)
        .offset(offset)
    )
    rows = await session.execute(
        _joined(Execution, Hook.name, Delivery)
        .where(Execution.id.in_(page.scalar_subquery()))
        .order_by(*newest_first)
    )
    return {
        "executions": [execution_json(e, name, d) for e, name, d in rows.all()],
        "total": min(total, COUNT_CAP),
        "totalCapped": total > COUNT_CAP,
    }


async def _find(
    session: SessionDep, user: User, execution_id: str
) -> tuple[Execution, str, Delivery | None]:
    """(execution, hook name, delivery) for an execution the user may see; 404 otherwise."""
    row = (
        await session.execute(
            visible(_joined(Execution, Hook.name, Delivery), user)
            .where(Execution.id == execution_id)
            .execution_options(populate_existing=True)
        )
    ).first()
    if row is None:
        raise ApiError(404, f"Execution {execution_id[:40]} not found")
    execution, hook_name, delivery = row
    return execution, hook_name, delivery


async def _one(session: SessionDep, user: User, execution_id: str) -> dict[str, Any]:
    return execution_json(*await _find(session, user, execution_id))


async def _owned_hook(session: SessionDep, user: User, hook_id: str) -> Hook:
    hook = await get_owned_hook(session, user, hook_id)
    if hook is None:
        raise ApiError(404, f"Hook {hook_id[:40]} not found")
    return hook


@router.get("/api/executions", response_model=ExecutionPage)
async def list_executions(
    user: UserDep,
    session: SessionDep,
    limit: int = LimitQuery,
    offset: int = OffsetQuery,
    wanted: LogFilter = FilterDep,
) -> StoredJSONResponse:
    """Executions of the user's hooks (every hook for admins), newest first, filtered."""
    return StoredJSONResponse(await _page(session, user, limit, offset, wanted))


@router.get("/api/hooks/{hook_id}/executions", response_model=ExecutionPage)
async def list_hook_executions(
    hook_id: str,
    user: UserDep,
    session: SessionDep,
    limit: int = LimitQuery,
    offset: int = OffsetQuery,
    wanted: LogFilter = FilterDep,
) -> StoredJSONResponse:
    """One hook's executions, newest first."""
    await _owned_hook(session, user, hook_id)
    wanted.hook_id = hook_id
    return StoredJSONResponse(await _page(session, user, limit, offset, wanted))


@router.post("/api/executions/replay", response_model=ReplayCount)
async def replay_matching(
    body: ReplayRequest, user: UserDep, session: SessionDep, runtime: RuntimeDep
) -> StoredJSONResponse:
    """Queue again every execution matching the filters (skipped ones only with
    `includeSkipped`); `dryRun` answers the count and queues nothing."""
    wanted = LogFilter(
        body.hookId,
        [str(s) for s in body.status],
        body.event,
        body.deliveryId,
        body.since,
        body.until,
        body.q,
    )
    more: list[sa.ColumnElement[bool]] = [Delivery.body_pruned_at.is_(None)]
    if not body.includeSkipped:
        more.append(Execution.status != "skipped")
    count = await _count(session, user, wanted, *more)
    if count > MAX_BULK_REPLAY:
        raise ApiError(
            409,
            f"More than {MAX_BULK_REPLAY} executions match; one replay queues at most "
            f"{MAX_BULK_REPLAY}: narrow the filters (hookId, status, since/until)",
        )
    if body.dryRun:
        return StoredJSONResponse({"count": count, "executionIds": []})
    conditions = [*wanted.conditions(session), *more]
    originals = list(
        (await session.execute(visible(_joined(Execution), user).where(*conditions)))
        .scalars()
        .all()
    )
    hooks = {
        h.id: h
        for h in await session.scalars(
            sa.select(Hook).where(Hook.id.in_({e.hook_id for e in originals}))
        )
    }
    replays = [_enqueue_replay(session, runtime, hooks[e.hook_id], e) for e in originals]
    await queries.notify_new_work(session)
    await session.commit()
    runtime.wake_workers()
    return StoredJSONResponse({"count": len(replays), "executionIds": [r.id for r in replays]})


@router.get("/api/executions/{execution_id}", response_model=OneExecution)
async def get_execution(
    execution_id: str, user: UserDep, session: SessionDep
) -> StoredJSONResponse:
    """One execution with its attempts, oldest first."""
    execution = await _one(session, user, execution_id)
    attempts = await session.scalars(
        sa.select(Attempt).where(Attempt.execution_id == execution_id).order_by(Attempt.number)
    )
    execution["attemptLog"] = [attempt_json(a) for a in attempts]
    return StoredJSONResponse({"execution": execution})


def _enqueue_replay(
    session: SessionDep, runtime: RuntimeDep, hook: Hook, original: Execution
) -> Execution:
    max_attempts = hook.retry_max_attempts or runtime.settings.retry_max_attempts
    replay = queries.enqueue_execution(session, hook, original.delivery_pk, "replay", max_attempts)
    replay.id = new_id()
    replay.replay_of = original.id
    return replay


@router.post(
    "/api/executions/{execution_id}/replay", status_code=202, response_model=ExecutionReply
)
async def replay_execution(
    execution_id: str,
    user: UserDep,
    session: SessionDep,
    runtime: RuntimeDep,
    force: bool = Query(False, description="Replay a skipped execution anyway"),
) -> StoredJSONResponse:
    """Queue the same delivery again for the same hook (source `replay`, `replayOf` set)."""
    execution, _, delivery = await _find(session, user, execution_id)
    hook = await session.get(Hook, execution.hook_id)
    assert hook is not None  # executions are deleted with their hook
    if delivery is None or delivery.body_pruned_at is not None:
        raise ApiError(
            409,
            "The delivery of this execution is no longer stored (OCTIPUS_RETENTION_DAYS, "
            "OCTIPUS_RETENTION_BODY_DAYS); cannot replay",
        )
    if execution.status == "skipped" and not force:
        reason = (execution.result or {}).get("skipped", "the hook did not run it")
        raise ApiError(
            409,
            f"This execution was skipped ({reason}); a replay runs the action anyway. "
            "Add ?force=true to replay it.",
        )
    replay = _enqueue_replay(session, runtime, hook, execution)
    await queries.notify_new_work(session)
    await session.commit()
    runtime.wake_workers()
    return StoredJSONResponse({"execution": await _one(session, user, replay.id)}, 202)


@router.post("/api/executions/{execution_id}/retry", response_model=ExecutionReply)
async def retry_execution(
    execution_id: str, user: UserDep, session: SessionDep, runtime: RuntimeDep
) -> StoredJSONResponse:
    """A `retrying` or `error` execution runs again now (no second execution is made)."""
    execution, _, _ = await _find(session, user, execution_id)
    if not await queries.retry_now(session, execution.id, utcnow()):
        raise ApiError(
            409,
            f"Only retrying or error executions can be retried now; this one is "
            f"{execution.status} (use replay to run a finished one again)",
        )
    await queries.notify_new_work(session)
    await session.commit()
    runtime.wake_workers()
    return StoredJSONResponse({"execution": await _one(session, user, execution_id)})


@router.post("/api/executions/{execution_id}/cancel", response_model=ExecutionReply)
async def cancel_execution(
    execution_id: str, user: UserDep, session: SessionDep
) -> StoredJSONResponse:
    """A queued or retrying execution will not run: status `cancelled`."""
    execution, _, _ = await _find(session, user, execution_id)
    if not await queries.cancel_waiting(session, execution.id, utcnow()):
        raise ApiError(
            409,
            f"Only queued or retrying executions can be cancelled; this one is {execution.status}",
        )
    await session.commit()
    return StoredJSONResponse({"execution": await _one(session, user, execution_id)})


def _check_test_fire(body: TestFire, max_depth: int) -> None:
    """Refuse a payload the delivery row could not store (too deep, odd numbers or text)."""
    for field, value in (("data", body.data), ("headers", body.headers)):
        if (problem := json_problem(value, field, max_depth)) is not None:
            raise ApiError(400, problem)


@router.post("/api/hooks/{hook_id}/test", response_model=ExecutionList)
async def test_hook(
    hook_id: str, body: TestFire, user: UserDep, session: SessionDep, runtime: RuntimeDep
) -> StoredJSONResponse:
    """Run the hook's action now with the given payload (source `manual_test`, one attempt)."""
    _check_test_fire(body, runtime.settings.hook_config_max_depth)
    hook = await _owned_hook(session, user, hook_id)
    await session.commit()  # end the read transaction: the run writes in its own
    data = {} if body.data is None else body.data
    headers = {k.lower(): v for k, v in body.headers.items()}
    if isinstance(data, str):
        raw = data.encode()
        headers.setdefault("content-type", "text/plain; charset=utf-8")
    else:
        raw = orjson.dumps(data)
        headers.setdefault("content-type", "application/json")
    delivery = Delivery(
        id=new_id(),
        path=hook.webhook_path,
        delivery_id=events.delivery_id(headers, data),
        event_type=events.event_type(headers, data),
        method="POST",
        content_type=headers["content-type"],
        headers=safe_headers(headers),
        query={},
        body=raw,
    )
    execution_id = await run_now(runtime, hook, delivery, "manual_test")
    return StoredJSONResponse({"results": [await _one(session, user, execution_id)]})

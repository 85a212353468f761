"""Execution log (DESIGN §3.4): list, show, replay, and the hooks' test-fire endpoint."""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypeVar

import orjson
import sqlalchemy as sa
from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from octipus.api.deps import RuntimeDep, SessionDep, UserDep
from octipus.api.errors import ApiError
from octipus.api.responses import StoredJSONResponse
from octipus.db.ids import new_id
from octipus.db.tables import Delivery, Execution, Hook, User
from octipus.hooks.context import display_context
from octipus.hooks.service import get_owned_hook
from octipus.ingress import event as events
from octipus.ingress.headers import safe_headers
from octipus.jsonbounds import json_problem
from octipus.queue import queries
from octipus.queue.executor import run_now

router = APIRouter(tags=["executions"])
SelectT = TypeVar("SelectT", bound=sa.Select)

STATUSES = ("queued", "running", "retrying", "success", "error", "skipped")
MAX_OFFSET = 10**9
LimitQuery = Query(50, ge=1, le=500, description="Page size (1-500)")
OffsetQuery = Query(0, ge=0, le=MAX_OFFSET, description="Executions to skip, newest first (0-1e9)")
StatusQuery = Query(None, description=f"One of {', '.join(STATUSES)}")


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
    }


def _visible(query: SelectT, user: User) -> SelectT:
    """Restrict to executions of the user's hooks unless the user is an admin."""
    return query if user.is_admin else query.where(Hook.owner_id == user.id)


def _status_filter(status: str | None) -> str | None:
    if status in (None, ""):
        return None
    if status not in STATUSES:
        raise ApiError(400, f"status must be one of {', '.join(STATUSES)} (got {status[:40]!r})")
    return status


async def _page(
    session: SessionDep,
    user: User,
    limit: int,
    offset: int,
    status: str | None,
    hook_id: str | None,
) -> dict[str, Any]:
    """One page of executions, newest first, with the total that match."""
    conditions = []
    if status := _status_filter(status):
        conditions.append(Execution.status == status)
    if hook_id:
        conditions.append(Execution.hook_id == hook_id)
    base = _visible(sa.select(Execution).join(Hook, Hook.id == Execution.hook_id), user)
    total = await session.scalar(
        base.where(*conditions).with_only_columns(sa.func.count()).order_by(None)
    )
    rows = await session.execute(
        _visible(
            sa.select(Execution, Hook.name, Delivery)
            .join(Hook, Hook.id == Execution.hook_id)
            .outerjoin(Delivery, Delivery.id == Execution.delivery_pk),
            user,
        )
        .where(*conditions)
        .order_by(Execution.created_at.desc(), Execution.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return {
        "executions": [execution_json(e, name, d) for e, name, d in rows.all()],
        "total": int(total or 0),
    }


async def _find(
    session: SessionDep, user: User, execution_id: str
) -> tuple[Execution, str, Delivery | None]:
    """(execution, hook name, delivery) for an execution the user may see; 404 otherwise."""
    row = (
        await session.execute(
            _visible(
                sa.select(Execution, Hook.name, Delivery)
                .join(Hook, Hook.id == Execution.hook_id)
                .outerjoin(Delivery, Delivery.id == Execution.delivery_pk),
                user,
            ).where(Execution.id == execution_id)
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


@router.get("/api/executions", response_model=dict[str, Any])
async def list_executions(
    user: UserDep,
    session: SessionDep,
    limit: int = LimitQuery,
    offset: int = OffsetQuery,
    status: str | None = StatusQuery,
    hook_id: str | None = Query(None, alias="hookId", description="Only this hook's executions"),
) -> StoredJSONResponse:
    """Executions of the user's hooks (every hook for admins), newest first."""
    return StoredJSONResponse(await _page(session, user, limit, offset, status, hook_id))


@router.get("/api/hooks/{hook_id}/executions", response_model=dict[str, Any])
async def list_hook_executions(
    hook_id: str,
    user: UserDep,
    session: SessionDep,
    limit: int = LimitQuery,
    offset: int = OffsetQuery,
    status: str | None = StatusQuery,
) -> StoredJSONResponse:
    """One hook's executions, newest first."""
    await _owned_hook(session, user, hook_id)
    return StoredJSONResponse(await _page(session, user, limit, offset, status, hook_id))


@router.get("/api/executions/{execution_id}", response_model=dict[str, Any])
async def get_execution(
    execution_id: str, user: UserDep, session: SessionDep
) -> StoredJSONResponse:
    return StoredJSONResponse({"execution": await _one(session, user, execution_id)})


@router.post(
    "/api/executions/{execution_id}/replay", status_code=202, response_model=dict[str, Any]
)
async def replay_execution(
    execution_id: str, user: UserDep, session: SessionDep, runtime: RuntimeDep
) -> StoredJSONResponse:
    """Queue the same delivery again for the same hook (source `replay`)."""
    execution, _, delivery = await _find(session, user, execution_id)
    hook = await session.get(Hook, execution.hook_id)
    assert hook is not None  # executions are deleted with their hook
    if delivery is None or delivery.body_pruned_at is not None:
        raise ApiError(
            409,
            "The delivery of this execution is no longer stored (OCTIPUS_RETENTION_DAYS, "
            "OCTIPUS_RETENTION_BODY_DAYS); cannot replay",
        )
    max_attempts = hook.retry_max_attempts or runtime.settings.retry_max_attempts
    replay = queries.enqueue_execution(session, hook, execution.delivery_pk, "replay", max_attempts)
    await queries.notify_new_work(session)
    await session.commit()
    runtime.wake_workers()
    return StoredJSONResponse({"execution": await _one(session, user, replay.id)}, 202)


def _check_test_fire(body: TestFire, max_depth: int) -> None:
    """Refuse a payload the delivery row could not store (too deep, odd numbers or text)."""
    for field, value in (("data", body.data), ("headers", body.headers)):
        if (problem := json_problem(value, field, max_depth)) is not None:
            raise ApiError(400, problem)


@router.post("/api/hooks/{hook_id}/test", response_model=dict[str, Any])
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

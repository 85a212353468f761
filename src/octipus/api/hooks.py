"""Hooks API: CRUD, toggle (DESIGN §3.3). Handlers are thin; rules live in hooks/service.py.

Hooks are answered with StoredJSONResponse, so a stored config no encoder can write (saved before
the limits existed) shows cut rather than failing the whole list.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from octipus.api.deps import RuntimeDep, SessionDep, UserDep
from octipus.api.errors import ApiError
from octipus.api.responses import StoredJSONResponse
from octipus.db.tables import Hook, User
from octipus.hooks import service
from octipus.hooks.pause import resume_hook
from octipus.hooks.schemas import HookCreate, HookToggle, HookUpdate
from octipus.queue import queries

router = APIRouter(prefix="/api/hooks", tags=["hooks"])


async def _owned(session: SessionDep, user: User, hook_id: str) -> Hook:
    hook = await service.get_owned_hook(session, user, hook_id)
    if hook is None:
        raise ApiError(404, f"Hook {hook_id[:40]} not found")
    return hook


@router.post("", status_code=201, response_model=dict[str, Any])
async def create_hook(
    body: HookCreate, user: UserDep, session: SessionDep, runtime: RuntimeDep
) -> StoredJSONResponse:
    try:
        hook = await service.create_hook(session, runtime, user, body)
    except service.HookValidationError as exc:
        raise ApiError(400, str(exc)) from None
    await session.commit()
    runtime.hooks.invalidate()
    return StoredJSONResponse({"hook": service.hook_json(hook)}, 201)


@router.get("", response_model=dict[str, Any])
async def list_hooks(user: UserDep, session: SessionDep) -> StoredJSONResponse:
    hooks = await service.list_hooks(session, user)
    return StoredJSONResponse({"hooks": [service.hook_json(h) for h in hooks]})


@router.get("/{hook_id}", response_model=dict[str, Any])
async def get_hook(hook_id: str, user: UserDep, session: SessionDep) -> StoredJSONResponse:
    return StoredJSONResponse({"hook": service.hook_json(await _owned(session, user, hook_id))})


@router.patch("/{hook_id}", response_model=dict[str, Any])
async def update_hook(
    hook_id: str, body: HookUpdate, user: UserDep, session: SessionDep, runtime: RuntimeDep
) -> StoredJSONResponse:
    hook = await _owned(session, user, hook_id)
    try:
        await service.update_hook(session, runtime, hook, user, body)
    except service.HookValidationError as exc:
        raise ApiError(400, str(exc)) from None
    await _enabled(session, runtime, hook)
    return StoredJSONResponse({"hook": service.hook_json(hook)})


@router.delete("/{hook_id}")
async def delete_hook(
    hook_id: str, user: UserDep, session: SessionDep, runtime: RuntimeDep
) -> dict[str, Any]:
    await session.delete(await _owned(session, user, hook_id))
    await session.commit()
    runtime.hooks.invalidate()
    return {"deleted": True}


@router.post("/{hook_id}/toggle")
async def toggle_hook(
    hook_id: str, body: HookToggle, user: UserDep, session: SessionDep, runtime: RuntimeDep
) -> dict[str, Any]:
    hook = await _owned(session, user, hook_id)
    hook.is_enabled = body.enabled
    await _enabled(session, runtime, hook)
    return {"success": True, "enabled": hook.is_enabled}


@router.post("/{hook_id}/resume", response_model=dict[str, Any])
async def resume(
    hook_id: str, user: UserDep, session: SessionDep, runtime: RuntimeDep
) -> StoredJSONResponse:
    """Enable a hook (auto-paused or not) and queue what its pause held."""
    hook = await _owned(session, user, hook_id)
    hook.is_enabled = True
    requeued = await _enabled(session, runtime, hook)
    return StoredJSONResponse({"hook": service.hook_json(hook), "requeued": requeued})


async def _enabled(session: SessionDep, runtime: RuntimeDep, hook: Hook) -> int:
    """Commit a hook change; a paused hook being enabled is resumed (its held executions are
    queued). Returns how many were queued."""
    requeued = await resume_hook(session, hook) if hook.is_enabled and hook.paused_at else 0
    if requeued:
        await queries.notify_new_work(session)  # workers on other nodes
    await session.commit()
    runtime.hooks.invalidate()
    if requeued:
        runtime.wake_workers()
    return requeued

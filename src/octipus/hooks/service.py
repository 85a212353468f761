"""Hook rules: validation, secret masking, ownership, and the JSON shape (DESIGN §3.3)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from octipus.actions.base import ConfigError
from octipus.actions.registry import get_action
from octipus.db.tables import Hook, User
from octipus.hooks.conditions import ConditionError, validate_conditions
from octipus.hooks.schemas import HookCreate, HookUpdate
from octipus.ingress.verify import validate_verification_config
from octipus.runtime import Runtime

_SEGMENT = re.compile(r"^[A-Za-z0-9._~-]+$")
MASK = "••••"
TRIGGER_SECRETS = ("webhookSecret", "webhookSecrets")
ACTION_SECRETS = ("signingSecret",)


class HookValidationError(ValueError):
    """Invalid hook input; the message names the field and how to fix it."""


def normalise_path(path: Any) -> str:
    """Validate `triggerConfig.webhookPath` and return it without surrounding slashes."""
    if not isinstance(path, str) or not path.strip("/"):
        raise HookValidationError('triggerConfig.webhookPath is required, e.g. "github"')
    path = path.strip("/")
    segments = path.split("/")
    if len(path) > 500 or any(s in ("", ".", "..") or not _SEGMENT.match(s) for s in segments):
        raise HookValidationError(
            "triggerConfig.webhookPath must be segments of letters, digits and ._~- joined by '/'"
            " (no empty segments, no '..'), at most 500 characters"
        )
    return path


def mask_secret(secret: str) -> str:
    return MASK + secret[-4:] if len(secret) > 8 else MASK


def _is_masked(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(MASK)


def _merge_secrets(
    new: dict[str, Any], old: dict[str, Any], fields: tuple[str, ...]
) -> dict[str, Any]:
    """Keep stored secrets where the client omitted them or echoed back the masked form."""
    merged = dict(new)
    for key in fields:
        value, stored = merged.get(key), old.get(key)
        if key not in merged or _is_masked(value):
            if key in old:
                merged[key] = stored
            else:
                merged.pop(key, None)
        elif isinstance(value, list) and isinstance(stored, list):
            previous = {mask_secret(s): s for s in stored if isinstance(s, str)}
            merged[key] = [previous.get(s, s) if _is_masked(s) else s for s in value]
    return merged


def _masked(config: dict[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    """A copy of `config` with the secret `fields` (strings or lists of strings) masked."""
    shown = dict(config)
    for key in fields:
        value = shown.get(key)
        if isinstance(value, str):
            shown[key] = mask_secret(value)
        elif isinstance(value, list):
            shown[key] = [mask_secret(str(s)) for s in value]
    return shown


def validate_trigger_config(config: dict[str, Any]) -> dict[str, Any]:
    config = dict(config)
    config["webhookPath"] = normalise_path(config.get("webhookPath"))
    events = config.get("events")
    if events is not None and (
        not isinstance(events, list) or not all(isinstance(e, str) and e for e in events)
    ):
        raise HookValidationError(
            'triggerConfig.events must be a list of event names, e.g. ["push"]'
        )
    secret = config.get("webhookSecret")
    if secret is not None and not isinstance(secret, str):
        raise HookValidationError("triggerConfig.webhookSecret must be a string")
    try:
        validate_verification_config(config)
    except ValueError as exc:
        raise HookValidationError(str(exc)) from None
    return config


async def _validate_action(
    action: str, config: dict[str, Any], owner: User, runtime: Runtime
) -> dict[str, Any]:
    try:
        return await get_action(action).validate(config, owner, runtime)
    except ConfigError as exc:
        raise HookValidationError(str(exc)) from None


def _validated_conditions(conditions: list[Any]) -> list[dict[str, Any]]:
    try:
        return validate_conditions(conditions)
    except ConditionError as exc:
        raise HookValidationError(str(exc)) from None


async def create_hook(
    session: AsyncSession, runtime: Runtime, owner: User, body: HookCreate
) -> Hook:
    trigger_config = validate_trigger_config(body.triggerConfig)
    hook = Hook(
        owner_id=owner.id,
        name=body.name.strip(),
        description=body.description,
        trigger=body.trigger,
        webhook_path=trigger_config["webhookPath"],
        trigger_config=trigger_config,
        action=body.action,
        action_config=await _validate_action(body.action, body.actionConfig, owner, runtime),
        conditions=_validated_conditions(body.conditions),
        is_enabled=body.isEnabled,
        priority=body.priority,
        max_executions=body.maxExecutions,
        cooldown_ms=body.cooldownMs,
        concurrency=body.concurrency,
        retry_max_attempts=body.retry.maxAttempts if body.retry else None,
    )
    session.add(hook)
    await session.flush()
    return hook


async def update_hook(
    session: AsyncSession, runtime: Runtime, hook: Hook, owner: User, body: HookUpdate
) -> Hook:
    fields = body.model_fields_set
    if body.triggerConfig is not None:
        hook.trigger_config = validate_trigger_config(
            _merge_secrets(body.triggerConfig, hook.trigger_config, TRIGGER_SECRETS)
        )
        hook.webhook_path = hook.trigger_config["webhookPath"]
    action = body.action or hook.action
    if body.action is not None or body.actionConfig is not None:
        config = hook.action_config
        if body.actionConfig is not None:
            config = _merge_secrets(body.actionConfig, hook.action_config, ACTION_SECRETS)
        hook.action_config = await _validate_action(action, config, owner, runtime)
        hook.action = action
    if body.conditions is not None:
        hook.conditions = _validated_conditions(body.conditions)
    for attr, field in (
        ("name", "name"),
        ("description", "description"),
        ("is_enabled", "isEnabled"),
        ("priority", "priority"),
        ("cooldown_ms", "cooldownMs"),
    ):
        value = getattr(body, field)
        if field in fields and (value is not None or field == "description"):
            setattr(hook, attr, value.strip() if field == "name" else value)
    if "maxExecutions" in fields:
        hook.max_executions = body.maxExecutions
    if "concurrency" in fields:
        hook.concurrency = body.concurrency
    if "retry" in fields:
        hook.retry_max_attempts = body.retry.maxAttempts if body.retry else None
    await session.flush()
    return hook


async def get_owned_hook(session: AsyncSession, user: User, hook_id: str) -> Hook | None:
    """The hook if `user` may see it (its owner, or an admin); None otherwise."""
    hook = await session.get(Hook, hook_id)
    if hook is None or (hook.owner_id != user.id and not user.is_admin):
        return None
    return hook


async def list_hooks(session: AsyncSession, user: User) -> list[Hook]:
    query = sa.select(Hook).order_by(Hook.priority.desc(), Hook.created_at)
    if not user.is_admin:
        query = query.where(Hook.owner_id == user.id)
    return list((await session.scalars(query)).all())


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def hook_json(hook: Hook) -> dict[str, Any]:
    """The API shape of a hook, secrets masked."""
    return {
        "id": hook.id,
        "ownerId": hook.owner_id,
        "name": hook.name,
        "description": hook.description,
        "trigger": hook.trigger,
        "triggerConfig": _masked(hook.trigger_config, TRIGGER_SECRETS),
        "action": hook.action,
        "actionConfig": _masked(hook.action_config, ACTION_SECRETS),
        "conditions": hook.conditions,
        "isEnabled": hook.is_enabled,
        "priority": hook.priority,
        "maxExecutions": hook.max_executions,
        "executionCount": hook.execution_count,
        "cooldownMs": hook.cooldown_ms,
        "concurrency": hook.concurrency,
        "retry": {"maxAttempts": hook.retry_max_attempts} if hook.retry_max_attempts else None,
        "lastExecutedAt": _iso(hook.last_executed_at),
        "lastError": hook.last_error,
        "createdAt": _iso(hook.created_at),
        "updatedAt": _iso(hook.updated_at),
    }

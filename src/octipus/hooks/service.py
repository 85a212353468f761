"""Hook rules: validation, secret masking, ownership, and the JSON shape (DESIGN §3.3)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from octipus.actions.base import ConfigError
from octipus.actions.registry import get_action
from octipus.config import Settings
from octipus.db.keyring import active_keyring
from octipus.db.sealed import ACTION_SECRETS, TRIGGER_SECRETS
from octipus.db.tables import Hook, User
from octipus.hooks.conditions import ConditionError, validate_conditions
from octipus.hooks.schemas import HookCreate, HookUpdate
from octipus.ingress.providers.config import TriggerConfigError, parse_trigger_config
from octipus.jsonbounds import json_problem
from octipus.runtime import Runtime

MASK = "••••"
MAX_TRIGGER_TEXT = 1000  # every string in triggerConfig: paths, secrets, event names, headers
# What `octipus hooks apply` expands; never a secret (a placeholder left unexpanded).
PLACEHOLDER = re.compile(r"\$\{[^}]*\}")


class HookValidationError(ValueError):
    """Invalid hook input; the message names the field and how to fix it."""


def mask_secret(secret: str) -> str:
    """How the API shows a stored secret: its last 4 characters (when long) and an opaque
    reference naming it, so that the exact mask sent back means "keep this secret"."""
    tail = secret[-4:] if len(secret) > 8 else ""
    return f"{MASK}{tail}#{active_keyring().reference(secret)}"


def _secret_strings(config: dict[str, Any], fields: tuple[str, ...]) -> list[str]:
    found: list[Any] = []
    for key in fields:
        value = config.get(key)
        found.extend(value if isinstance(value, list) else [value])
    return [s for s in found if isinstance(s, str)]


def _resolve_secret(field: str, value: Any, stored: dict[str, str]) -> Any:
    """A secret as sent: a mask names a stored secret (kept); anything else is a new value."""
    if not isinstance(value, str):
        return value  # validation names the wrong type
    if value.startswith(MASK):
        if value in stored:
            return stored[value]
        raise HookValidationError(
            f"{field} is a masked value that names no secret stored on this hook: send the"
            " secret itself, or the mask exactly as the hook was last read"
        )
    placeholder = PLACEHOLDER.search(value)
    if placeholder:
        raise HookValidationError(
            f"{field} looks like an unexpanded placeholder ({placeholder.group()[:40]}): send the"
            " secret itself (`octipus hooks apply` expands ${VAR} from its environment)"
        )
    return value


def _merge_secrets(
    new: dict[str, Any], old: dict[str, Any], fields: tuple[str, ...], section: str
) -> dict[str, Any]:
    """`new` with its secrets resolved against the `old` config: an omitted secret keeps the
    stored one, null removes it, a read-back mask keeps the secret it names (wherever it now
    stands), and anything else is a new value."""
    merged = dict(new)
    stored = {mask_secret(s): s for s in _secret_strings(old, fields)}
    for key in fields:
        name = f"{section}.{key}"
        if key not in merged:
            if key in old:
                merged[key] = old[key]
        elif isinstance(merged[key], list):
            merged[key] = [
                _resolve_secret(f"{name}[{i}]", item, stored) for i, item in enumerate(merged[key])
            ]
        else:
            merged[key] = _resolve_secret(name, merged[key], stored)
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


def _check_stored_json(field: str, value: Any, settings: Settings, max_text: int | None) -> None:
    """Refuse a config too deep, too large, or holding what JSON columns cannot keep."""
    problem = json_problem(value, field, settings.hook_config_max_depth, max_text)
    if problem is not None:
        raise HookValidationError(problem)
    size = len(orjson.dumps(value))
    if size > settings.hook_config_max_bytes:
        raise HookValidationError(
            f"{field} takes {size} bytes as JSON; at most {settings.hook_config_max_bytes}"
            " are allowed (OCTIPUS_HOOK_CONFIG_MAX_BYTES)"
        )


def check_limits(body: HookCreate | HookUpdate, settings: Settings) -> None:
    """Bound nesting, size, numbers and text of the free-form fields, before anything reads them."""
    _check_stored_json("triggerConfig", body.triggerConfig, settings, MAX_TRIGGER_TEXT)
    _check_stored_json("actionConfig", body.actionConfig, settings, None)
    _check_stored_json("conditions", body.conditions, settings, None)


def validate_trigger_config(config: dict[str, Any]) -> dict[str, Any]:
    """The `triggerConfig` to store: checked against its provider's model, the path normalised,
    exactly the fields that were sent kept."""
    try:
        parsed = parse_trigger_config(config, saving=True)
    except TriggerConfigError as exc:
        raise HookValidationError(str(exc)) from None
    return parsed.model_dump(exclude_unset=True)


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
    check_limits(body, runtime.settings)
    trigger_config = validate_trigger_config(
        _merge_secrets(body.triggerConfig, {}, TRIGGER_SECRETS, "triggerConfig")
    )
    action_config = _merge_secrets(body.actionConfig, {}, ACTION_SECRETS, "actionConfig")
    hook = Hook(
        owner_id=owner.id,
        name=body.name.strip(),
        description=body.description,
        trigger=body.trigger,
        webhook_path=trigger_config["webhookPath"],
        trigger_config=trigger_config,
        action=body.action,
        action_config=await _validate_action(body.action, action_config, owner, runtime),
        conditions=_validated_conditions(body.conditions),
        is_enabled=body.isEnabled,
        priority=body.priority,
        max_executions=body.maxExecutions,
        cooldown_ms=body.cooldownMs,
        concurrency=body.concurrency,
        retry_max_attempts=body.retry.maxAttempts if body.retry else None,
        auto_pause_after=body.autoPauseAfter,
    )
    session.add(hook)
    await session.flush()
    return hook


async def update_hook(
    session: AsyncSession, runtime: Runtime, hook: Hook, owner: User, body: HookUpdate
) -> Hook:
    check_limits(body, runtime.settings)
    fields = body.model_fields_set
    if body.triggerConfig is not None:
        hook.trigger_config = validate_trigger_config(
            _merge_secrets(
                body.triggerConfig, hook.trigger_config, TRIGGER_SECRETS, "triggerConfig"
            )
        )
        hook.webhook_path = hook.trigger_config["webhookPath"]
    action = body.action or hook.action
    if body.action is not None or body.actionConfig is not None:
        config = hook.action_config
        if body.actionConfig is not None:
            config = _merge_secrets(
                body.actionConfig, hook.action_config, ACTION_SECRETS, "actionConfig"
            )
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
    if "autoPauseAfter" in fields:
        hook.auto_pause_after = body.autoPauseAfter
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
        "failureStreak": hook.failure_streak,
        "autoPauseAfter": hook.auto_pause_after,
        "pausedReason": hook.paused_reason,
        "pausedAt": _iso(hook.paused_at),
        "lastWarning": hook.last_warning,
        "createdAt": _iso(hook.created_at),
        "updatedAt": _iso(hook.updated_at),
    }

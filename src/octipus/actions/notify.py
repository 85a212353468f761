"""The `notify` action: render `notifyMessage` and send it to the owner's verified channels."""

from __future__ import annotations

from typing import Any, ClassVar

import sqlalchemy as sa

from octipus.actions.base import ActionContext, ActionError, ConfigError
from octipus.channels.linking import verified_bindings
from octipus.channels.notifier import NO_CHANNELS, send_to_bindings, target_of
from octipus.db.tables import Execution, User
from octipus.hooks.templates import render
from octipus.runtime import Runtime

DEFAULT_MESSAGE = "Webhook received: {{webhook.event}}"
FIELDS = ("notifyMessage", "notifyOwner", "notifyChannels")


async def _earlier_attempt(ctx: ActionContext) -> tuple[str | None, dict[str, int]]:
    """The message a failed earlier attempt rendered, and the parts it delivered per target."""
    if ctx.attempt <= 1:
        return None, {}
    async with ctx.runtime.read_sessions() as session:
        result = await session.scalar(
            sa.select(Execution.result).where(Execution.id == ctx.execution_id)
        )
    if not isinstance(result, dict) or not isinstance(result.get("message"), str):
        return None, {}
    sent = {
        d["target"]: d["partsSent"]
        for d in result.get("deliveries") or []
        if isinstance(d, dict) and isinstance(d.get("partsSent"), int)
    }
    return result["message"], sent


class NotifyAction:
    name: ClassVar[str] = "notify"
    uses_owner_bindings: ClassVar[bool] = True

    async def validate(
        self, config: dict[str, Any], owner: User, runtime: Runtime
    ) -> dict[str, Any]:
        for key in config:
            if key not in FIELDS:
                raise ConfigError(key, f"unknown field; notify takes {', '.join(FIELDS)}")
        message = config.get("notifyMessage", DEFAULT_MESSAGE)
        if not isinstance(message, str) or not message.strip():
            raise ConfigError("notifyMessage", "must be a non-empty text template")
        channels = config.get("notifyChannels") or []
        if not isinstance(channels, list) or not all(isinstance(c, str) for c in channels):
            raise ConfigError("notifyChannels", 'must be a list of "type:id" strings')
        channels = [c.strip() for c in channels]
        notify_owner = config.get("notifyOwner", not channels)
        if not isinstance(notify_owner, bool):
            raise ConfigError("notifyOwner", "must be true or false")
        if not notify_owner and not channels:
            raise ConfigError("notifyOwner", "set notifyOwner: true or list notifyChannels")
        if channels:
            allowed = {target_of(b) for b in await verified_bindings(runtime, owner.id)}
            for target in channels:
                if target not in allowed:
                    raise ConfigError(
                        "notifyChannels",
                        f"'{target}' is not one of your verified channels "
                        f"(yours: {', '.join(sorted(allowed)) or 'none'}); "
                        "link it in Settings → Channels first",
                    )
        return {
            "notifyMessage": message,
            "notifyOwner": notify_owner,
            "notifyChannels": channels,
        }

    async def run(self, ctx: ActionContext) -> dict[str, Any]:
        config = ctx.hook.action_config
        channels: list[str] = list(config.get("notifyChannels") or [])
        notify_owner = bool(config.get("notifyOwner", not channels))
        # Loaded with the claim (`uses_owner_bindings`): the worker always passes them.
        assert ctx.owner_bindings is not None, "notify runs get the owner's bindings"
        verified = {target_of(b): b for b in ctx.owner_bindings}
        # Checked again now: a channel may have been unlinked since the hook was saved.
        refused = [t for t in channels if t not in verified]
        wanted = list(verified) if notify_owner else [t for t in channels if t in verified]
        if not wanted:
            raise ActionError(
                f"notifyChannels {', '.join(refused)}: not your verified channels"
                if refused
                else NO_CHANNELS
            )
        # A retry resumes the earlier attempt: same text, parts already delivered not repeated.
        text, already_sent = await _earlier_attempt(ctx)
        if text is None:
            text = render(config.get("notifyMessage") or DEFAULT_MESSAGE, ctx.trigger)
        deliveries = await send_to_bindings(
            ctx.runtime, [verified[t] for t in wanted], text, already_sent
        )
        result = {"message": text, "deliveries": deliveries}
        if refused:
            raise ActionError(
                f"sent to {len(wanted)} channel(s), but refused notifyChannels "
                f"{', '.join(refused)}: not your verified channels (link them again)",
                result=result,
            )
        return result

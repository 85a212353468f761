"""`execute_tool`: run one tool action (shell, http, messaging) with templated parameters."""

from __future__ import annotations

from typing import Any, ClassVar

from octipus.actions.base import ActionContext, ActionError, ConfigError, RetryableError
from octipus.db.tables import User
from octipus.runtime import Runtime
from octipus.tools.base import ToolContext, ToolError, ToolRefused, UnknownTool
from octipus.tools.registry import (
    TOOLS,
    check_policy,
    check_template_params,
    find_action,
    invoke,
    resolve,
)


def _required_text(config: dict[str, Any], field: str) -> str:
    value = config.get(field)
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(field, "is required and must be a non-empty string")
    return value.strip()


class ToolAction:
    name: ClassVar[str] = "execute_tool"
    uses_owner_bindings: ClassVar[bool] = False

    async def validate(
        self, config: dict[str, Any], owner: User, runtime: Runtime
    ) -> dict[str, Any]:
        tool_id = _required_text(config, "toolId")
        action = _required_text(config, "toolAction")
        params = config.get("toolParams", {})
        if not isinstance(params, dict):
            raise ConfigError("toolParams", "must be an object of parameter names to values")
        try:
            tool, spec = find_action(tool_id, action)
        except UnknownTool as exc:
            field = "toolAction" if tool_id in TOOLS else "toolId"
            raise ConfigError(field, str(exc)) from None
        try:
            check_policy(tool, owner, runtime.settings)
        except ToolRefused as exc:
            raise ConfigError("toolId", str(exc)) from None
        try:
            check_template_params(spec, params)
        except ValueError as exc:
            raise ConfigError("toolParams", str(exc)) from None
        return {**config, "toolId": tool_id, "toolAction": action, "toolParams": params}

    async def run(self, ctx: ActionContext) -> dict[str, Any]:
        config = ctx.hook.action_config
        tool_id, action = config.get("toolId", ""), config.get("toolAction", "")
        where = {"tool": tool_id, "action": action}
        try:
            _, spec = resolve(tool_id, action, ctx.owner, ctx.runtime.settings)
        except (UnknownTool, ToolRefused) as exc:
            raise ActionError(str(exc), result=where) from None
        tool_ctx = ToolContext(ctx.runtime, ctx.owner)
        try:
            params = spec.render(config.get("toolParams") or {}, ctx.trigger)
            output = await invoke(spec, params, tool_ctx)
        except ToolError as exc:
            ctx.exchange = tool_ctx.exchange
            result = {**where, **exc.result, "error": str(exc)}
            if exc.retryable:
                raise RetryableError(str(exc), result=result) from None
            raise ActionError(str(exc), result=result) from None
        ctx.exchange = tool_ctx.exchange
        return {**where, **output}

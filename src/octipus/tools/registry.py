"""Tools by id: lookup, parameter validation, the policies that gate them, and calling them."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from octipus.config import Settings
from octipus.db.tables import User
from octipus.tools.base import ActionSpec, Tool, ToolContext, ToolError, ToolRefused, UnknownTool
from octipus.tools.http import HTTP
from octipus.tools.messaging import MESSAGING
from octipus.tools.shell import SHELL

TOOLS: dict[str, Tool] = {tool.id: tool for tool in (SHELL, HTTP, MESSAGING)}


def find_action(tool_id: str, action: str) -> tuple[Tool, ActionSpec]:
    """The tool and its action; UnknownTool naming what exists otherwise."""
    tool = TOOLS.get(tool_id)
    if tool is None:
        raise UnknownTool(f"unknown tool {tool_id!r}; available tools: {', '.join(sorted(TOOLS))}")
    found = tool.actions.get(action)
    if found is None:
        raise UnknownTool(
            f"tool {tool_id!r} has no action {action!r}; "
            f"available actions: {', '.join(sorted(tool.actions))}"
        )
    return tool, found


def check_policy(tool: Tool, owner: User, settings: Settings) -> None:
    """Raise ToolRefused when this owner may not use this tool on this server."""
    if tool.switch and getattr(settings, tool.switch) == "off":
        env = "OCTIPUS_" + tool.switch.upper()
        raise ToolRefused(f"the {tool.id} tool is switched off on this server ({env}=off)")
    if tool.admin_only and not owner.is_admin:
        raise ToolRefused(f"the {tool.id} tool is only available to hooks owned by an admin user")


def _error_text(errors: list[ErrorDetails]) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in err['loc']) or 'params'}: {err['msg']}" for err in errors
    )


def check_template_params(action: ActionSpec, params: dict[str, Any]) -> None:
    """Save-time check of raw params: ValueError unless valid, ignoring fields that are templates.

    A value like `"{{webhook.body.timeout}}"` only gets its type once rendered, so its type is
    checked at run time; unknown and missing fields are reported now.
    """
    action.check_templates(params)
    try:
        action.params.model_validate(params)
    except ValidationError as exc:
        real = [
            err
            for err in exc.errors()
            if not (isinstance(err.get("input"), str) and "{{" in err["input"])
        ]
        if real:
            raise ValueError(_error_text(real)) from None


def parse_params(action: ActionSpec, params: dict[str, Any]) -> BaseModel:
    """Validate rendered params into the action's model; ToolError when invalid."""
    try:
        return action.params.model_validate(params)
    except ValidationError as exc:
        raise ToolError(f"invalid tool parameters: {_error_text(exc.errors())}") from None


def resolve(tool_id: str, action: str, owner: User, settings: Settings) -> tuple[Tool, ActionSpec]:
    """The tool action this owner may call; UnknownTool or ToolRefused otherwise."""
    tool, spec = find_action(tool_id, action)
    check_policy(tool, owner, settings)
    return tool, spec


async def invoke(spec: ActionSpec, params: dict[str, Any], ctx: ToolContext) -> dict[str, Any]:
    """Validate already-rendered params and run the action; ToolError on failure."""
    return await spec.run(parse_params(spec, params), ctx)


def permitted_actions(owner: User, settings: Settings) -> list[tuple[Tool, ActionSpec]]:
    """Each distinct action this owner may call (aliases such as shell `execute` listed once)."""
    permitted: list[tuple[Tool, ActionSpec]] = []
    for tool in TOOLS.values():
        try:
            check_policy(tool, owner, settings)
        except ToolRefused:
            continue
        seen: list[ActionSpec] = []
        for action in tool.actions.values():
            if action not in seen:
                seen.append(action)
                permitted.append((tool, action))
    return permitted

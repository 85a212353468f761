"""The tool registry as pydantic-ai tools for orchestrated agents; every call is recorded.

Tools an agent may call pass the same policies as `execute_tool` (shell only for admin owners,
off with OCTIPUS_TOOLS_SHELL=off). Admin-only tools are also opt-in per hook (`agentTools`),
because an agent's arguments come from a model that read untrusted payload text. Parameters are
the model's own, validated and run as given: no template is rendered into them, so nothing from
the payload is substituted into a shell command here either.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from pydantic_ai import Tool as AgentTool

from octipus.tools.base import ActionSpec, Tool, ToolContext, ToolError
from octipus.tools.registry import TOOLS, permitted_actions
from octipus.tools.registry import invoke as invoke_tool


def tool_names(tool: Tool, spec: ActionSpec) -> set[str]:
    """`http.request`, `shell.run`/`shell.execute`: how hooks name an action in `agentTools`."""
    return {f"{tool.id}.{key}" for key, found in tool.actions.items() if found is spec}


def selected_actions(
    ctx: ToolContext, allowed: Sequence[str] | None
) -> list[tuple[Tool, ActionSpec]]:
    """Permitted actions, narrowed to `allowed`; admin-only tools only when listed there."""
    chosen = []
    for tool, spec in permitted_actions(ctx.owner, ctx.runtime.settings):
        listed = allowed is not None and bool(tool_names(tool, spec) & set(allowed))
        if listed or (allowed is None and not tool.admin_only):
            chosen.append((tool, spec))
    return chosen


def _bridge(
    tool: Tool, spec: ActionSpec, ctx: ToolContext, calls: list[dict[str, Any]]
) -> AgentTool[Any]:
    async def call(**params: Any) -> dict[str, Any]:
        started = time.monotonic()
        record: dict[str, Any] = {"tool": tool.id, "action": spec.name, "params": params}
        try:
            output = await invoke_tool(spec, params, ctx)
        except ToolError as exc:
            record.update(ok=False, error=str(exc), result=exc.result)
            reply = {"error": str(exc), **exc.result}
        else:
            record.update(ok=True, result=output)
            reply = output
        record["durationMs"] = int((time.monotonic() - started) * 1000)
        calls.append(record)
        return reply

    return AgentTool.from_schema(
        call,
        name=f"{tool.id}_{spec.name}",
        description=f"{tool.description} {spec.description}",
        json_schema=spec.params.model_json_schema(),
    )


def agent_tools(
    ctx: ToolContext, allowed: Sequence[str] | None, calls: list[dict[str, Any]]
) -> list[AgentTool[Any]]:
    """pydantic-ai tools for the selected actions; each call appends a record to `calls`."""
    return [_bridge(tool, spec, ctx, calls) for tool, spec in selected_actions(ctx, allowed)]


def known_tool_names() -> list[str]:
    """Every `tool.action` name a hook may list in `agentTools`."""
    return sorted(f"{tool.id}.{key}" for tool in TOOLS.values() for key in tool.actions)

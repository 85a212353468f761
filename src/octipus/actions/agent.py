"""`spawn_agent`: an AI agent (or the offline summariser) on the event, then maybe notify."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, ClassVar, NoReturn

from octipus.actions.base import ActionContext, ActionError, ConfigError, RetryableError
from octipus.channels.linking import verified_bindings
from octipus.channels.notifier import send_to_bindings
from octipus.db.tables import User
from octipus.hooks.templates import render
from octipus.runtime import Runtime
from octipus.tools.base import ToolContext, ToolRefused
from octipus.tools.registry import check_policy, find_action

if TYPE_CHECKING:
    from octipus.agents.runtime import AgentFailure

# octipus.agents (pydantic-ai and the model SDKs it pulls in) is imported where it is used, not
# here: it costs each serving process ~0.8 s of CPU and ~22 MiB at start-up, and most
# installations never run an agent.

DEFAULT_AGENT_PROMPT = "A webhook event was received. Summarise it concisely for the owner."
# notifyOwner is a courtesy on top of the summary: with nowhere to send it, the run still
# succeeds (the summary is in the result) and says what to do.
NO_CHANNEL_WARNING = "notifyOwner: no verified channel — link a channel in Settings → Channels"


def _optional_text(config: dict[str, Any], field: str) -> str | None:
    value = config.get(field)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(field, "must be a non-empty string when given")
    return value.strip()


def _flag(config: dict[str, Any], field: str) -> bool:
    value = config.get(field, False)
    if not isinstance(value, bool):
        raise ConfigError(field, "must be true or false")
    return value


def _agent_tools(config: dict[str, Any], owner: User, runtime: Runtime) -> list[str] | None:
    value = config.get("agentTools")
    if value is None:
        return None
    from octipus.agents.toolbox import known_tool_names

    known = known_tool_names()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError("agentTools", f"must be a list of tool names from: {', '.join(known)}")
    for name in value:
        if name not in known:
            raise ConfigError("agentTools", f"unknown tool {name!r}; known: {', '.join(known)}")
        tool, _ = find_action(*name.split(".", 1))
        try:
            check_policy(tool, owner, runtime.settings)
        except ToolRefused as exc:
            raise ConfigError("agentTools", str(exc)) from None
    return value


class AgentAction:
    name: ClassVar[str] = "spawn_agent"
    uses_owner_bindings: ClassVar[bool] = False

    async def validate(
        self, config: dict[str, Any], owner: User, runtime: Runtime
    ) -> dict[str, Any]:
        from octipus.agents.models import ModelConfigError, check_model_name

        model = _optional_text(config, "agentModel")
        if model is not None:
            try:
                check_model_name(model, runtime.settings)
            except ModelConfigError as exc:
                raise ConfigError("agentModel", str(exc)) from None
        normalised = {
            **config,
            "agentPrompt": _optional_text(config, "agentPrompt") or DEFAULT_AGENT_PROMPT,
            "agentTopic": _optional_text(config, "agentTopic"),
            "orchestrated": _flag(config, "orchestrated"),
            "notifyOwner": _flag(config, "notifyOwner"),
            "agentModel": model,
        }
        tools = _agent_tools(config, owner, runtime)
        if tools is not None:
            normalised["agentTools"] = tools
        return normalised

    async def run(self, ctx: ActionContext) -> dict[str, Any]:
        from octipus.agents.orchestrator import AgentJob, run_orchestrated, run_single
        from octipus.agents.prompt import build_prompt
        from octipus.agents.runtime import AgentFailure, AgentReport

        config = ctx.hook.action_config
        settings = ctx.runtime.settings
        webhook = ctx.trigger.get("webhook") or {}
        instructions = render(config.get("agentPrompt") or DEFAULT_AGENT_PROMPT, ctx.trigger)
        job = AgentJob(
            prompt=build_prompt(instructions, webhook.get("body"), webhook.get("event")),
            event=webhook.get("event"),
            body=webhook.get("body"),
            topic=config.get("agentTopic"),
            model_override=config.get("agentModel"),
            allowed_tools=config.get("agentTools"),
        )
        orchestrated = bool(config.get("orchestrated"))
        report = AgentReport()
        base = {
            "orchestrated": orchestrated,
            "topic": job.topic,
            "budgets": {
                "timeoutSeconds": settings.agent_timeout_seconds,
                "maxOutputTokens": settings.agent_max_output_tokens,
                "maxToolCalls": settings.agent_max_tool_calls,
            },
        }
        try:
            async with asyncio.timeout(settings.agent_timeout_seconds):
                if orchestrated:
                    await run_orchestrated(job, ToolContext(ctx.runtime, ctx.owner), report)
                else:
                    await run_single(job, settings, report)
        except TimeoutError:
            message = f"agent run exceeded its {settings.agent_timeout_seconds:g}s timeout"
            failure = AgentFailure(message, retryable=True)
            self._fail(failure, {**base, **report.as_result()})
        except AgentFailure as failure:
            self._fail(failure, {**base, **report.as_result()})
        result = {**base, **report.as_result()}
        if config.get("notifyOwner"):
            await self._notify(ctx, report.output, result)
        return result

    @staticmethod
    def _fail(failure: AgentFailure, result: dict[str, Any]) -> NoReturn:
        result["error"] = str(failure)
        if failure.retryable:
            raise RetryableError(str(failure), retry_after=failure.retry_after, result=result)
        raise ActionError(str(failure), result=result)

    @staticmethod
    async def _notify(ctx: ActionContext, text: str, result: dict[str, Any]) -> None:
        """Send the output to the owner's verified channels; record where it went.

        No verified channel is a warning in the result, not a failure. A failed delivery fails
        the execution with the agent's output kept in the result; retryable channel failures
        (platform 5xx, 429) retry the execution.
        """
        bindings = await verified_bindings(ctx.runtime, ctx.owner.id)
        if not bindings:
            result.update(notified=[], warnings=[NO_CHANNEL_WARNING])
            return
        try:
            result["notified"] = await send_to_bindings(ctx.runtime, bindings, text)
        except RetryableError as exc:
            result.update(error=str(exc), notified=(exc.result or {}).get("deliveries", []))
            raise RetryableError(str(exc), retry_after=exc.retry_after, result=result) from None
        except ActionError as exc:
            result.update(error=str(exc), notified=(exc.result or {}).get("deliveries", []))
            raise ActionError(str(exc), result=result) from None

"""One LLM agent run on pydantic-ai under the server's budgets, with provider errors sorted.

Budgets: max output tokens per response, max tool calls per run (settings), and the overall
timeout, which the caller enforces around the whole run. The execution queue owns retries, so
the provider SDK's own retries are turned off and retryable failures are reported as such.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic_ai import Agent, Tool
from pydantic_ai.exceptions import (
    AgentRunError,
    ModelAPIError,
    ModelConnectionError,
    ModelHTTPError,
    ModelRateLimitError,
    ModelRequestTimeout,
    ModelServerError,
    ModelUnavailableError,
    UsageLimitExceeded,
)
from pydantic_ai.settings import ModelSettings
from pydantic_ai.usage import RunUsage, UsageLimits

from octipus.agents.models import ModelConfigError, build_model
from octipus.agents.summariser import BUILTIN_MODEL
from octipus.config import Settings

TRANSIENT_ERRORS = (
    ModelServerError,
    ModelUnavailableError,
    ModelRateLimitError,
    ModelConnectionError,
    ModelRequestTimeout,
)


@dataclass
class Usage:
    """Token and call counts of one execution, summed over classification and the run."""

    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    tool_calls: int = 0

    def add(self, usage: RunUsage) -> None:
        self.requests += usage.requests
        self.input_tokens += usage.input_tokens
        self.output_tokens += usage.output_tokens
        self.tool_calls += usage.tool_calls

    def as_dict(self) -> dict[str, int]:
        return {
            "requests": self.requests,
            "inputTokens": self.input_tokens,
            "outputTokens": self.output_tokens,
            "totalTokens": self.input_tokens + self.output_tokens,
            "toolCalls": self.tool_calls,
        }


@dataclass
class AgentReport:
    """What an agent run produced; becomes the execution `result`."""

    model: str = BUILTIN_MODEL
    output: str = ""
    usage: Usage = field(default_factory=Usage)
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    classification: dict[str, Any] | None = None

    def as_result(self) -> dict[str, Any]:
        result: dict[str, Any] = {
            "model": self.model,
            "output": self.output,
            "usage": self.usage.as_dict(),
            "toolCalls": self.tool_calls,
        }
        if self.classification is not None:
            result["classification"] = self.classification
        return result


class AgentFailure(Exception):
    """A failed run: `retryable` for provider timeouts, 5xx, 429 and connection errors."""

    def __init__(self, message: str, *, retryable: bool, retry_after: float | None = None):
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after


def failure_from(exc: Exception) -> AgentFailure:
    """Sort a pydantic-ai/provider exception into retryable or permanent."""
    if isinstance(exc, ModelConfigError):
        return AgentFailure(str(exc), retryable=False)
    if isinstance(exc, TRANSIENT_ERRORS) or (
        isinstance(exc, ModelHTTPError) and exc.status_code >= 500
    ):
        retry_after = exc.retry_after if isinstance(exc, ModelAPIError) else None
        return AgentFailure(f"model provider error: {exc}", retryable=True, retry_after=retry_after)
    if isinstance(exc, UsageLimitExceeded):
        return AgentFailure(f"agent budget exceeded: {exc}", retryable=False)
    if isinstance(exc, AgentRunError):
        return AgentFailure(f"agent run failed: {exc}", retryable=False)
    return AgentFailure(f"agent run failed: {type(exc).__name__}: {exc}", retryable=False)


def model_settings(settings: Settings, max_tokens: int | None = None) -> ModelSettings:
    return ModelSettings(
        max_tokens=max_tokens or settings.agent_max_output_tokens,
        timeout=settings.agent_timeout_seconds,
        max_retries=0,
    )


async def run_model(
    model_name: str,
    prompt: str,
    *,
    instructions: str,
    settings: Settings,
    usage: Usage,
    tools: Sequence[Tool[Any]] = (),
    max_tokens: int | None = None,
) -> str:
    """Run one agent to its text output, adding its usage; AgentFailure on any failure."""
    try:
        agent: Agent[None, str] = Agent(
            build_model(model_name, settings), instructions=instructions, tools=tools
        )
        result = await agent.run(
            prompt,
            model_settings=model_settings(settings, max_tokens),
            usage_limits=UsageLimits(
                request_limit=settings.agent_max_tool_calls + 2,
                tool_calls_limit=settings.agent_max_tool_calls,
            ),
        )
    except Exception as exc:  # every provider/SDK failure ends as a recorded error
        raise failure_from(exc) from exc
    usage.add(result.usage)
    return result.output

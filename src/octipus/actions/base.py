"""The action framework: what every action type implements, and how it reports failure."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from octipus.db.tables import ChannelBinding, Hook, User
from octipus.runtime import Runtime


class RetryableError(Exception):
    """A failure worth retrying (connection error, timeout, 5xx, 429); `retry_after` in seconds."""

    def __init__(
        self, message: str, retry_after: float | None = None, result: dict[str, Any] | None = None
    ):
        super().__init__(message)
        self.retry_after = retry_after
        self.result = result


class ActionError(Exception):
    """A permanent failure: the execution ends in `error` at once."""

    def __init__(self, message: str, result: dict[str, Any] | None = None):
        super().__init__(message)
        self.result = result


class ConfigError(ValueError):
    """An invalid `actionConfig`, found at save time; `field` names what to fix."""

    def __init__(self, field: str, message: str):
        super().__init__(f"actionConfig.{field}: {message}")
        self.field = field


@dataclass
class ActionContext:
    """Everything one run of an action may use."""

    runtime: Runtime
    hook: Hook
    owner: User
    execution_id: str
    attempt: int
    source: str
    trigger: dict[str, Any]  # the template context: {webhook, hook, execution, now}
    # The owner's verified bindings as of the claim, for actions with `uses_owner_bindings`.
    owner_bindings: list[ChannelBinding] | None = None
    # Set by actions that talk HTTP: what was sent and what came back (actions/exchange.py),
    # kept with the attempt in the execution log, whether the run succeeds or fails.
    exchange: dict[str, Any] | None = None


class Action(Protocol):
    """One action type (`webhook`, `notify`, `execute_tool`, `spawn_agent`)."""

    name: ClassVar[str]
    # Load the owner's verified bindings with the claim (one query per worker round), so that a
    # run does not read them itself.
    uses_owner_bindings: ClassVar[bool]

    async def validate(
        self, config: dict[str, Any], owner: User, runtime: Runtime
    ) -> dict[str, Any]:
        """Check `actionConfig` at save time; return it normalised or raise ConfigError."""
        ...

    async def run(self, ctx: ActionContext) -> dict[str, Any]:
        """Do the work; return the execution `result`, or raise RetryableError/ActionError."""
        ...

"""Request bodies of the hooks API (camelCase on the wire, DESIGN §3.3)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

ActionName = Literal["spawn_agent", "notify", "webhook", "execute_tool"]
MAX_COUNT = 2**31 - 1  # counts are 32-bit integer columns
# Pause the hook after this many failed attempts in a row (null: never; alerts.py).
AUTO_PAUSE = Field(default=None, ge=1, le=10_000)


def _not_blank(value: str) -> str:
    value = value.strip()
    if not value:
        raise ValueError("must contain a character other than spaces")
    return value


Name = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_not_blank)]


class RetryPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid")

    maxAttempts: int = Field(ge=1, le=50)


class HookCreate(BaseModel):
    """`POST /api/hooks`; unknown fields are refused so typos do not pass silently."""

    model_config = ConfigDict(extra="forbid")

    name: Name
    description: str | None = Field(default=None, max_length=5000)
    trigger: Literal["webhook"] = "webhook"
    triggerConfig: dict[str, Any]
    action: ActionName
    actionConfig: dict[str, Any] = Field(default_factory=dict)
    conditions: list[Any] = Field(default_factory=list)
    isEnabled: bool = True
    priority: int = Field(default=0, ge=-1000, le=1000)
    maxExecutions: int | None = Field(default=None, ge=1, le=MAX_COUNT)
    cooldownMs: int = Field(default=0, ge=0, le=7 * 24 * 3600 * 1000)
    concurrency: int | None = Field(default=None, ge=1, le=10_000)
    retry: RetryPolicy | None = None
    autoPauseAfter: int | None = AUTO_PAUSE


class HookUpdate(BaseModel):
    """`PATCH /api/hooks/{id}`: every field optional; secrets kept when omitted or sent masked."""

    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    description: str | None = Field(default=None, max_length=5000)
    trigger: Literal["webhook"] | None = None
    triggerConfig: dict[str, Any] | None = None
    action: ActionName | None = None
    actionConfig: dict[str, Any] | None = None
    conditions: list[Any] | None = None
    isEnabled: bool | None = None
    priority: int | None = Field(default=None, ge=-1000, le=1000)
    maxExecutions: int | None = Field(default=None, ge=1, le=MAX_COUNT)
    cooldownMs: int | None = Field(default=None, ge=0, le=7 * 24 * 3600 * 1000)
    concurrency: int | None = Field(default=None, ge=1, le=10_000)  # null: the default cap
    retry: RetryPolicy | None = None
    autoPauseAfter: int | None = AUTO_PAUSE


class HookToggle(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool

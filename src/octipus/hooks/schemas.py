"""Request bodies of the hooks API (camelCase on the wire, DESIGN §3.3)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

ActionName = Literal["spawn_agent", "notify", "webhook", "execute_tool"]


class RetryPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid")

    maxAttempts: int = Field(ge=1, le=50)


class HookCreate(BaseModel):
    """`POST /api/hooks`; unknown fields are refused so typos do not pass silently."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=5000)
    trigger: Literal["webhook"] = "webhook"
    triggerConfig: dict[str, Any]
    action: ActionName
    actionConfig: dict[str, Any] = Field(default_factory=dict)
    conditions: list[Any] = Field(default_factory=list)
    isEnabled: bool = True
    priority: int = Field(default=0, ge=-1000, le=1000)
    maxExecutions: int | None = Field(default=None, ge=1)
    cooldownMs: int = Field(default=0, ge=0, le=7 * 24 * 3600 * 1000)
    concurrency: int | None = Field(default=None, ge=1, le=10_000)
    retry: RetryPolicy | None = None


class HookUpdate(BaseModel):
    """`PATCH /api/hooks/{id}`: every field optional; secrets kept when omitted or sent masked."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=5000)
    trigger: Literal["webhook"] | None = None
    triggerConfig: dict[str, Any] | None = None
    action: ActionName | None = None
    actionConfig: dict[str, Any] | None = None
    conditions: list[Any] | None = None
    isEnabled: bool | None = None
    priority: int | None = Field(default=None, ge=-1000, le=1000)
    maxExecutions: int | None = Field(default=None, ge=1)
    cooldownMs: int | None = Field(default=None, ge=0, le=7 * 24 * 3600 * 1000)
    concurrency: int | None = Field(default=None, ge=1, le=10_000)  # null: the default cap
    retry: RetryPolicy | None = None


class HookToggle(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool

"""Response and request bodies of the execution log (OpenAPI: exact for these routes)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from octipus.api.execution_filters import StatusName


class AttemptOut(BaseModel):
    """One finished run of the action: what was sent (secrets redacted), what came back."""

    number: int
    outcome: str = Field(description="success | retrying | error")
    startedAt: str | None
    finishedAt: str
    durationMs: int
    error: str | None
    request: dict[str, Any] | None = Field(
        description="method, url, headers (credentials redacted), body excerpt (4 KiB)"
    )
    response: dict[str, Any] | None = Field(
        description="status, reason, headers, body excerpt (4 KiB); null: no answer"
    )
    nextAttemptAt: str | None


class ExecutionOut(BaseModel):
    id: str
    hookId: str
    hookName: str
    deliveryId: str | None = Field(description="The sender's delivery id, else ours")
    deliveryPk: str | None = Field(description="Our delivery id (GET /api/deliveries/{id})")
    source: str = Field(description="hook | replay | manual_test")
    status: StatusName
    attempts: int
    maxAttempts: int
    triggerType: str
    actionType: str
    result: Any
    error: str | None
    durationMs: int | None
    triggerContext: dict[str, Any] | None
    createdAt: str | None
    startedAt: str | None
    finishedAt: str | None
    nextAttemptAt: str | None
    replayOf: str | None = Field(description="The execution this one replays")


class ExecutionDetail(ExecutionOut):
    attemptLog: list[AttemptOut] = Field(description="Every finished attempt, oldest first")


class ExecutionPage(BaseModel):
    executions: list[ExecutionOut]
    total: int = Field(description="Executions that match, counted up to 10000")
    totalCapped: bool = Field(description="More than `total` match")


class OneExecution(BaseModel):
    execution: ExecutionDetail


class ExecutionReply(BaseModel):
    """The execution as it is after a retry, cancel or replay (its attempts: GET it)."""

    execution: ExecutionOut


class ExecutionList(BaseModel):
    results: list[ExecutionOut]


class DeliveryOut(BaseModel):
    """One accepted request with every execution of it the caller may see."""

    id: str
    deliveryId: str | None
    path: str
    eventType: str | None
    method: str
    contentType: str | None
    headers: dict[str, Any]
    body: str | None = Field(description="The raw body (null once retention cleared it)")
    receivedAt: str
    executions: list[ExecutionOut]


class OneDelivery(BaseModel):
    delivery: DeliveryOut


class ReplayRequest(BaseModel):
    """`POST /api/executions/replay`: the list's filters; `dryRun` counts without queuing."""

    model_config = ConfigDict(extra="forbid")

    hookId: str | None = None
    status: list[StatusName] = Field(default_factory=list)
    event: str | None = Field(None, max_length=200)
    deliveryId: str | None = Field(None, max_length=200)
    since: str | None = None
    until: str | None = None
    q: str | None = Field(None, min_length=1, max_length=200)
    dryRun: bool = False
    includeSkipped: bool = Field(
        False, description="Also replay skipped executions (not replayed otherwise)"
    )


class ReplayCount(BaseModel):
    count: int = Field(description="Executions that match (dry run) or were queued again")
    executionIds: list[str] = Field(description="The new executions (empty for a dry run)")

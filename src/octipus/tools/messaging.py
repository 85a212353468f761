"""The `messaging` tool: send a message to the hook owner's verified channels."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from octipus.actions.base import ActionError, RetryableError
from octipus.channels.notifier import notify_owner
from octipus.tools.base import ActionSpec, Tool, ToolContext, ToolError


class MessageParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(
        min_length=1, description="Message text; long messages are split per platform"
    )


async def send_to_owner(params: MessageParams, ctx: ToolContext) -> dict[str, Any]:
    """Deliver to every verified binding of the owner; ToolError when none exists or any failed."""
    try:
        deliveries = await notify_owner(ctx.runtime, ctx.owner.id, params.text)
    except (RetryableError, ActionError) as exc:
        retryable = isinstance(exc, RetryableError)
        raise ToolError(str(exc), exc.result, retryable=retryable) from None
    return {"deliveries": deliveries}


MESSAGING = Tool(
    id="messaging",
    description="Messages to the hook owner's linked Telegram/Slack channels.",
    actions={
        "send_to_owner": ActionSpec(
            name="send_to_owner",
            description="Send a text message to the hook owner's verified channels.",
            params=MessageParams,
            run=send_to_owner,
        )
    },
)

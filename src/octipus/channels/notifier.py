"""Send a text to a user's verified bindings: split per platform, in order, each binding once.

`notify_owner` is what tools call (`messaging.notify`); the notify action and agents'
`notifyOwner` use `send_to_bindings` with the bindings they resolved.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from octipus.actions.base import ActionError, RetryableError
from octipus.channels.apprise import AppriseAdapter
from octipus.channels.base import ChannelAdapter, split_message
from octipus.channels.linking import verified_bindings
from octipus.channels.slack import SlackAdapter
from octipus.channels.telegram import TelegramAdapter
from octipus.db.tables import ChannelBinding
from octipus.runtime import Runtime

NO_CHANNELS = "No channels linked — link one in Settings → Channels"


def adapter_for(runtime: Runtime, channel_type: str) -> ChannelAdapter:
    """The adapter for a binding's platform; ActionError when that platform is not configured."""
    try:
        if channel_type == "telegram":
            return TelegramAdapter(runtime.settings, runtime.http)
        if channel_type == "slack":
            return SlackAdapter(runtime.settings, runtime.http)
    except ValueError as exc:
        raise ActionError(f"{channel_type} is not configured on this server: {exc}") from None
    if channel_type == "apprise":
        return AppriseAdapter(runtime.settings.forward_allowed_hosts, runtime.guarded_process)
    raise ActionError(f"unknown channel type '{channel_type}'")


@dataclass
class Outcome:
    """How sending to one binding went; `sent` counts parts delivered, in order."""

    binding: ChannelBinding
    parts: int = 0
    sent: int = 0
    error: RetryableError | ActionError | None = None
    replies: list[dict[str, Any]] = field(default_factory=list)

    def as_result(self) -> dict[str, Any]:
        result: dict[str, Any] = {
            "target": target_of(self.binding),
            "displayName": self.binding.display_name,
            "status": "sent" if self.error is None else "failed",
            "parts": self.parts,
            "partsSent": self.sent,
            "messages": self.replies,
        }
        if self.error is not None:
            result["error"] = str(self.error)
            result["retryable"] = isinstance(self.error, RetryableError)
        return result


def target_of(binding: ChannelBinding) -> str:
    """How a binding is named in `notifyChannels` and in results: `type:externalId`."""
    return f"{binding.channel_type}:{binding.external_id}"


async def deliver(runtime: Runtime, binding: ChannelBinding, text: str, skip: int = 0) -> Outcome:
    """Send `text` to one binding, split to its limit, in order, starting after the first
    `skip` parts (sent by an earlier attempt); stops at the first part that fails."""
    outcome = Outcome(binding, sent=skip)
    try:
        adapter = adapter_for(runtime, binding.channel_type)
        destination = await adapter.open(binding)
        parts = split_message(text, destination.max_chars)
        outcome.parts = len(parts)
        for part in parts[skip:]:
            outcome.replies.append(await adapter.send_part(destination, part))
            outcome.sent += 1
    except (RetryableError, ActionError) as exc:
        outcome.error = exc
    return outcome


async def send_to_bindings(
    runtime: Runtime,
    bindings: list[ChannelBinding],
    text: str,
    already_sent: Mapping[str, int] | None = None,
) -> list[dict[str, Any]]:
    """Send to every binding at once; one result per binding.

    `already_sent` maps targets to parts an earlier attempt delivered, so a retry resumes
    where it stopped instead of repeating messages. Raises RetryableError (with the largest
    advertised `retry_after`) when any binding failed in a way worth retrying, else ActionError
    when any failed for good; both carry `{"message", "deliveries"}` as their result.
    """
    if not text.strip():
        raise ActionError("the message is empty after rendering; check notifyMessage")
    sent = already_sent or {}
    outcomes = await asyncio.gather(
        *(deliver(runtime, b, text, sent.get(target_of(b), 0)) for b in bindings)
    )
    results = [o.as_result() for o in outcomes]
    failed = [o for o in outcomes if o.error is not None]
    if not failed:
        return results
    summary = "; ".join(f"{r['target']}: {r['error']}" for r in results if "error" in r)
    result = {"message": text, "deliveries": results}
    retryable = [o.error for o in failed if isinstance(o.error, RetryableError)]
    if retryable:
        delays = [e.retry_after for e in retryable if e.retry_after is not None]
        raise RetryableError(summary, retry_after=max(delays, default=None), result=result)
    raise ActionError(summary, result=result)


async def notify_owner(runtime: Runtime, user_id: str, text: str) -> list[dict[str, Any]]:
    """Send `text` to all the user's verified bindings; one result dict per binding."""
    bindings = await verified_bindings(runtime, user_id)
    if not bindings:
        raise ActionError(NO_CHANNELS)
    return await send_to_bindings(runtime, bindings, text)

"""Slack Web API (conversations.open + chat.postMessage, over octipus.net.http) and `/link`.

Messages go out with `mrkdwn: false` and Slack's three control characters escaped, so payload
data shows as typed and can never become a mention (`<!channel>`) or a link.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from octipus.channels.base import (
    Destination,
    InboundCommand,
    platform_failure,
    unreachable,
)
from octipus.config import Settings
from octipus.db.tables import ChannelBinding
from octipus.net.http import HttpClient, HttpError
from octipus.queue.backoff import parse_retry_after

# Slack truncates `text` at 40,000 characters and asks for at most 4,000 for readable messages.
MAX_MESSAGE_CHARS = 4000
# Errors Slack answers with HTTP 200 and `ok: false` that clear up on their own.
TRANSIENT_ERRORS = frozenset(
    {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}
)


def escape_text(text: str) -> str:
    """Slack's required escaping for `&`, `<` and `>` (the only characters it parses in text)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class SlackAdapter:
    channel_type: ClassVar[str] = "slack"

    def __init__(self, settings: Settings, http: HttpClient):
        if not settings.slack_bot_token:
            raise ValueError("OCTIPUS_SLACK_BOT_TOKEN is not set")
        self.token = settings.slack_bot_token
        self.api_url = settings.slack_api_url.rstrip("/")
        self.http = http

    async def call(self, method: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Call one Web API method; the body when `ok`, else RetryableError/ActionError."""
        try:
            response = await self.http.post(
                f"{self.api_url}/{method}",
                json=payload,
                headers={"Authorization": f"Bearer {self.token}"},
            )
        except HttpError as exc:
            raise unreachable("Slack", exc, self.token) from None
        retry_after = parse_retry_after(response.headers.get("retry-after"))
        try:
            body = response.json()
        except ValueError:
            body = {}
        body = body if isinstance(body, dict) else {}
        if response.status == 200 and body.get("ok"):
            return body
        error = str(body.get("error") or f"HTTP {response.status}")
        status = response.status
        if status == 200 and error in TRANSIENT_ERRORS:
            status = 429 if error == "ratelimited" else 503
        raise platform_failure("Slack", status, f"{method}: {error}", retry_after)

    async def open(self, binding: ChannelBinding) -> Destination:
        """The bot's direct-message channel with the bound Slack user."""
        body = await self.call("conversations.open", {"users": binding.external_id})
        return Destination(str(body["channel"]["id"]), MAX_MESSAGE_CHARS)

    async def send_part(self, destination: Destination, text: str) -> dict[str, Any]:
        body = await self.call(
            "chat.postMessage",
            {
                "channel": destination.address,
                "text": escape_text(text),
                "mrkdwn": False,
                "unfurl_links": False,
                "unfurl_media": False,
            },
        )
        return {"channel": body.get("channel"), "ts": body.get("ts")}


def command_from_form(form: Mapping[str, str]) -> InboundCommand | None:
    """The `/link` slash command's text as a bot command, or None without a user id."""
    user_id = form.get("user_id")
    if not user_id:
        return None
    return InboundCommand(
        channel_type="slack",
        external_id=user_id,
        display_name=form.get("user_name") or None,
        text=f"/link {form.get('text', '')}".strip(),
    )

"""Telegram Bot API (over net/http.py): `{api}/bot<token>/<method>`, JSON in, `{"ok": ...}` out.

Messages go out as plain text (no `parse_mode`): payload data can contain anything, and plain
text is the one format Telegram can never refuse to parse.
"""

from __future__ import annotations

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

MAX_MESSAGE_CHARS = 4096
WEBHOOK_ROUTE = "/api/channels/telegram/webhook"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
# getUpdates answers up to 100 messages of up to 4,096 characters each: more than the client's
# default 1 MiB at worst, and a truncated answer would never parse.
MAX_ANSWER_BYTES = 16 * 1024 * 1024


class TelegramAdapter:
    channel_type: ClassVar[str] = "telegram"

    def __init__(self, settings: Settings, http: HttpClient):
        if not settings.telegram_bot_token:
            raise ValueError("OCTIPUS_TELEGRAM_BOT_TOKEN is not set")
        self.token = settings.telegram_bot_token
        self.api_url = settings.telegram_api_url.rstrip("/")
        self.http = http

    async def call(self, method: str, payload: dict[str, Any], timeout: float = 30.0) -> Any:
        """Call one Bot API method and return its `result`; raise RetryableError/ActionError."""
        url = f"{self.api_url}/bot{self.token}/{method}"
        try:
            response = await self.http.post(
                url, json=payload, timeout=timeout, max_body=MAX_ANSWER_BYTES
            )
        except HttpError as exc:
            raise unreachable("Telegram", exc, self.token) from None
        try:
            body = response.json()
        except ValueError:
            body = {}
        if response.status == 200 and isinstance(body, dict) and body.get("ok"):
            return body.get("result")
        body = body if isinstance(body, dict) else {}
        status = int(body.get("error_code") or response.status)
        retry_after = (body.get("parameters") or {}).get("retry_after")
        raise platform_failure(
            "Telegram",
            status,
            f"{method}: {body.get('description') or f'HTTP {response.status}'}",
            float(retry_after) if isinstance(retry_after, int | float) else None,
        )

    async def open(self, binding: ChannelBinding) -> Destination:
        return Destination(binding.external_id, MAX_MESSAGE_CHARS)

    async def send_part(self, destination: Destination, text: str) -> dict[str, Any]:
        return await self.send_message(destination.address, text)

    async def send_message(self, chat_id: str, text: str) -> dict[str, Any]:
        message = await self.call(
            "sendMessage",
            {"chat_id": chat_id, "text": text, "link_preview_options": {"is_disabled": True}},
        )
        return {"messageId": message.get("message_id") if isinstance(message, dict) else None}

    async def get_updates(self, offset: int | None, timeout: int) -> list[dict[str, Any]]:
        """Long-poll for new messages; the HTTP timeout outlasts Telegram's `timeout`."""
        payload: dict[str, Any] = {"timeout": timeout, "allowed_updates": ["message"]}
        if offset is not None:
            payload["offset"] = offset
        updates = await self.call("getUpdates", payload, timeout=timeout + 10.0)
        return updates if isinstance(updates, list) else []

    async def set_webhook(self, url: str, secret_token: str) -> None:
        await self.call(
            "setWebhook",
            {"url": url, "secret_token": secret_token, "allowed_updates": ["message"]},
        )

    async def delete_webhook(self) -> None:
        await self.call("deleteWebhook", {"drop_pending_updates": False})


def _display_name(sender: dict[str, Any]) -> str | None:
    if sender.get("username"):
        return f"@{sender['username']}"
    name = " ".join(str(sender[k]) for k in ("first_name", "last_name") if sender.get(k))
    return name or None


def command_from_update(update: dict[str, Any]) -> InboundCommand | None:
    """The bot command in a private chat's message, or None (groups cannot be linked)."""
    message = update.get("message")
    if not isinstance(message, dict):
        return None
    text, chat = message.get("text"), message.get("chat")
    if not isinstance(text, str) or not text.startswith("/") or not isinstance(chat, dict):
        return None
    if chat.get("type") != "private" or chat.get("id") is None:
        return None
    sender = message.get("from") if isinstance(message.get("from"), dict) else {}
    return InboundCommand(
        channel_type="telegram",
        external_id=str(chat["id"]),
        display_name=_display_name(sender or chat),
        text=text,
    )

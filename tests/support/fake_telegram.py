"""A fake Telegram Bot API on a loopback port, speaking the real wire format.

`POST /bot<token>/<method>` with JSON or form parameters; answers `{"ok":true,"result":…}` or
`{"ok":false,"error_code":…,"description":…[,"parameters":{"retry_after":N}]}`. Implements
sendMessage (with Telegram's 4096-character and empty-text checks), getUpdates (long polling
with `offset` confirmation), setWebhook and deleteWebhook. Tests push user messages with
`push_message` (for polling) or build updates with `update` (to POST to a webhook).
"""

from __future__ import annotations

import itertools
import time
from typing import Any

from tests.support.fake_platform import Answer, FakePlatform

TOKEN = "123456:TEST-fake-bot-token"


def error(code: int, description: str, retry_after: int | None = None) -> Answer:
    body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
    if retry_after is not None:
        body["parameters"] = {"retry_after": retry_after}
    return Answer(code, body)


def too_many_requests(retry_after: int) -> Answer:
    return error(429, f"Too Many Requests: retry after {retry_after}", retry_after)


class FakeTelegram(FakePlatform):
    def __init__(self, token: str = TOKEN) -> None:
        super().__init__()
        self.token = token
        self._message_ids = itertools.count(1)
        self._update_ids = itertools.count(1000)
        self._pending: list[dict[str, Any]] = []  # updates not yet confirmed by an offset
        self.webhook: dict[str, Any] | None = None
        self._delivered: list[tuple[str, str]] = []  # (chat id, text) of accepted messages
        self._polls = 0  # getUpdates calls open now
        self.most_polls = 0  # the most getUpdates calls ever open at once (one per poller)

    @property
    def api_url(self) -> str:
        """The value for OCTIPUS_TELEGRAM_API_URL."""
        return self.url

    def update(self, chat_id: int, text: str, username: str = "alice") -> dict[str, Any]:
        """An Update for a private-chat message, as Telegram delivers it."""
        user = {
            "id": chat_id,
            "is_bot": False,
            "first_name": username.title(),
            "username": username,
        }
        return {
            "update_id": next(self._update_ids),
            "message": {
                "message_id": next(self._message_ids),
                "from": user,
                "chat": {**user, "type": "private"},
                "date": int(time.time()),
                "text": text,
                "entities": [{"offset": 0, "length": len(text.split()[0]), "type": "bot_command"}],
            },
        }

    def push_message(self, chat_id: int, text: str, username: str = "alice") -> None:
        """A user sends the bot a message; a long-polling getUpdates returns it."""
        with self.lock:
            self._pending.append(self.update(chat_id, text, username))
            self.lock.notify_all()

    def sent(self, chat_id: int | str | None = None) -> list[str]:
        """Texts of accepted sendMessage calls (to one chat), in arrival order."""
        with self.lock:
            return [t for c, t in self._delivered if chat_id is None or c == str(chat_id)]

    def answer(self, path: str, payload: dict[str, Any], headers: dict[str, str]) -> Answer:
        if not path.startswith(f"/bot{self.token}/"):
            return error(401, "Unauthorized")
        handler = {
            "sendMessage": self._send_message,
            "getUpdates": self._get_updates,
            "setWebhook": self._set_webhook,
            "deleteWebhook": self._delete_webhook,
        }.get(self.method_of(path))
        return handler(payload) if handler else error(404, "Not Found")

    def _send_message(self, payload: dict[str, Any]) -> Answer:
        text = str(payload.get("text") or "")
        if payload.get("chat_id") in (None, ""):
            return error(400, "Bad Request: chat_id is empty")
        if not text.strip():
            return error(400, "Bad Request: message text is empty")
        if len(text.encode("utf-16-le")) // 2 > 4096:
            return error(400, "Bad Request: message is too long")
        chat_id = payload["chat_id"]
        with self.lock:
            self._delivered.append((str(chat_id), text))
        return Answer(
            200,
            {
                "ok": True,
                "result": {
                    "message_id": next(self._message_ids),
                    "from": {"id": 123456, "is_bot": True, "first_name": "Octipus"},
                    "chat": {"id": chat_id, "type": "private"},
                    "date": int(time.time()),
                    "text": text,
                },
            },
        )

    def _get_updates(self, payload: dict[str, Any]) -> Answer:
        if self.webhook is not None:
            return error(409, "Conflict: can't use getUpdates method while webhook is active")
        offset = int(payload.get("offset") or 0)
        deadline = time.monotonic() + float(payload.get("timeout") or 0)
        with self.lock:
            self._polls += 1
            self.most_polls = max(self.most_polls, self._polls)
            try:
                return self._wait_for_updates(offset, deadline)
            finally:
                self._polls -= 1

    def _wait_for_updates(self, offset: int, deadline: float) -> Answer:
        """Updates from `offset` on, waiting until `deadline` for one (called holding the lock)."""
        while True:
            self._pending = [u for u in self._pending if u["update_id"] >= offset]
            if self._pending or self.closing.is_set():
                break
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            self.lock.wait(min(remaining, 0.5))
        return Answer(200, {"ok": True, "result": list(self._pending)})

    def _set_webhook(self, payload: dict[str, Any]) -> Answer:
        with self.lock:
            self.webhook = payload
        return Answer(200, {"ok": True, "result": True, "description": "Webhook was set"})

    def _delete_webhook(self, payload: dict[str, Any]) -> Answer:
        with self.lock:
            self.webhook = None
        return Answer(200, {"ok": True, "result": True, "description": "Webhook was deleted"})

"""A fake Slack Web API on a loopback port, speaking the real wire format.

`POST /<method>` with `Authorization: Bearer <token>` and JSON or form parameters; answers
HTTP 200 `{"ok":true,…}` or `{"ok":false,"error":"…"}`, and HTTP 429 with `Retry-After` when a
test scripts a rate limit. Implements conversations.open (a DM channel `D<user>` per user) and
chat.postMessage. `signed_command` builds a `/link` slash command signed with slack_sdk.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlencode

from slack_sdk.signature import SignatureVerifier

from tests.support.fake_platform import Answer, FakePlatform

TOKEN = "xoxb-fake-bot-token"
SIGNING_SECRET = "fake-slack-signing-secret"


def rate_limited(retry_after: int) -> Answer:
    return Answer(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(retry_after)})


def failed(error: str, status: int = 200) -> Answer:
    return Answer(status, {"ok": False, "error": error})


def unescape(text: str) -> str:
    """What Slack shows for an escaped message text."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def signed_command(
    user_id: str,
    text: str,
    user_name: str = "alice",
    secret: str = SIGNING_SECRET,
    timestamp: int | None = None,
) -> tuple[bytes, dict[str, str]]:
    """The form body and headers Slack sends for `/link <text>` typed by `user_id`."""
    body = urlencode(
        {
            "token": "deprecated-verification-token",
            "team_id": "T0001",
            "team_domain": "example",
            "channel_id": "C2147483705",
            "channel_name": "general",
            "user_id": user_id,
            "user_name": user_name,
            "command": "/link",
            "text": text,
            "api_app_id": "A123456",
            "response_url": "https://hooks.slack.com/commands/1234/5678",
            "trigger_id": "13345224609.738474920.8088930838d88f008e0",
        }
    ).encode()
    ts = str(timestamp if timestamp is not None else int(time.time()))
    signature = SignatureVerifier(secret).generate_signature(timestamp=ts, body=body)
    return body, {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": str(signature),
    }


class FakeSlack(FakePlatform):
    def __init__(self, token: str = TOKEN) -> None:
        super().__init__()
        self.token = token
        self._posted: list[tuple[str, str]] = []  # (channel, text) of accepted messages

    @property
    def api_url(self) -> str:
        """The value for OCTIPUS_SLACK_API_URL."""
        return self.url

    def sent(self, user_id: str | None = None) -> list[str]:
        """Texts (as Slack shows them) posted to a user's DM channel, in arrival order."""
        with self.lock:
            return [unescape(t) for c, t in self._posted if user_id is None or c == f"D{user_id}"]

    def answer(self, path: str, payload: dict[str, Any], headers: dict[str, str]) -> Answer:
        if headers.get("authorization") != f"Bearer {self.token}":
            return failed("invalid_auth")
        method = self.method_of(path)
        if method == "conversations.open":
            users = str(payload.get("users") or "")
            if not users or "," in users:
                return failed("not_enough_users" if not users else "too_many_users")
            return Answer(200, {"ok": True, "channel": {"id": f"D{users}"}})
        if method == "chat.postMessage":
            return self._post_message(payload)
        return failed("unknown_method", 404)

    def _post_message(self, payload: dict[str, Any]) -> Answer:
        channel, text = str(payload.get("channel") or ""), str(payload.get("text") or "")
        if not channel:
            return failed("channel_not_found")
        if not text:
            return failed("no_text")
        if len(text) > 40_000:
            return failed("msg_too_long")
        ts = f"{time.time():.6f}"
        with self.lock:
            self._posted.append((channel, text))
        return Answer(
            200,
            {
                "ok": True,
                "channel": channel,
                "ts": ts,
                "message": {"type": "message", "text": text, "bot_id": "B0001", "ts": ts},
            },
        )

"""Helpers for channel tests: server settings pointing at the fakes, and the two link flows."""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from tests.support import fake_slack, fake_telegram
from tests.support.fake_slack import FakeSlack, signed_command
from tests.support.fake_telegram import FakeTelegram
from tests.support.server import ServerProcess
from tests.support.waiting import wait_until

TELEGRAM_SECRET = "tg-webhook-secret_0123456789"
CODE = re.compile(r"\b([A-Z2-9]{6})\b")
_CHAT_IDS = itertools.count(5001)


def channel_env(
    telegram: FakeTelegram | None, slack: FakeSlack | None, **extra: str
) -> dict[str, str]:
    """Server environment with the given platforms pointed at their local fakes."""
    env = {"OCTIPUS_RETRY_BASE_SCALE": "0.001"}
    if telegram is not None:
        env |= {
            "OCTIPUS_TELEGRAM_BOT_TOKEN": fake_telegram.TOKEN,
            "OCTIPUS_TELEGRAM_API_URL": telegram.api_url,
            "OCTIPUS_TELEGRAM_WEBHOOK_SECRET": TELEGRAM_SECRET,
        }
    if slack is not None:
        env |= {
            "OCTIPUS_SLACK_BOT_TOKEN": fake_slack.TOKEN,
            "OCTIPUS_SLACK_SIGNING_SECRET": fake_slack.SIGNING_SECRET,
            "OCTIPUS_SLACK_API_URL": slack.api_url,
        }
    return env | extra


def code_in(text: str) -> str:
    match = CODE.search(text)
    assert match, f"no code in {text!r}"
    return match.group(1)


def telegram_says(
    server: ServerProcess, telegram: FakeTelegram, chat_id: int, text: str
) -> httpx.Response:
    """A Telegram user sends `text` to the bot; Telegram delivers it to the webhook."""
    return httpx.post(
        f"{server.url}/api/channels/telegram/webhook",
        json=telegram.update(chat_id, text),
        headers={"X-Telegram-Bot-Api-Secret-Token": TELEGRAM_SECRET},
        timeout=30,
    )


def slack_says(server: ServerProcess, user_id: str, text: str) -> httpx.Response:
    """A Slack user types `/link <text>`; Slack posts the signed command."""
    body, headers = signed_command(user_id, text)
    return httpx.post(
        f"{server.url}/api/channels/slack/commands", content=body, headers=headers, timeout=30
    )


def next_reply(sent: Callable[[], list[str]], seen: int) -> str:
    """The first message after the `seen` ones already there."""
    return wait_until(lambda: sent()[seen:], what="a reply from the bot")[0]


def link_telegram_with_bot_code(
    server: ServerProcess, telegram: FakeTelegram, token: str, chat_id: int
) -> dict[str, Any]:
    """`/link` in the chat, then redeem the code the bot replied with in the API."""
    seen = len(telegram.sent(chat_id))
    assert telegram_says(server, telegram, chat_id, "/link").status_code == 200
    code = code_in(next_reply(lambda: telegram.sent(chat_id), seen))
    with server.client(token) as c:
        response = c.post("/api/auth/channel-bindings/redeem", json={"code": code})
    assert response.status_code == 200, response.text
    return response.json()["binding"]


def link_slack_with_ui_code(server: ServerProcess, token: str, user_id: str) -> str:
    """Get a code from the API, then type `/link CODE` in Slack; returns the bot's answer."""
    with server.client(token) as c:
        code = c.post("/api/auth/channel-bindings/link-code").json()["code"]
    response = slack_says(server, user_id, code)
    assert response.status_code == 200, response.text
    return str(response.json()["text"])


def bindings(server: ServerProcess, token: str) -> list[dict[str, Any]]:
    with server.client(token) as c:
        response = c.get("/api/auth/channel-bindings")
    assert response.status_code == 200, response.text
    return list(response.json()["bindings"])


def new_chat_id() -> int:
    """A Telegram chat id no other test uses (the module's server is shared)."""
    return next(_CHAT_IDS)


def new_slack_user() -> str:
    return f"U{next(_CHAT_IDS)}"


@contextmanager
def channel_server(
    data_dir: Path, telegram: FakeTelegram | None, slack: FakeSlack | None, **extra: str
) -> Iterator[ServerProcess]:
    """One real server for a whole test module, pointed at the fakes."""
    server = ServerProcess(data_dir, channel_env(telegram, slack, **extra)).start()
    try:
        yield server
    finally:
        server.kill()

"""Linking Telegram chats through a real server and a fake Telegram Bot API (DESIGN §6)."""

from __future__ import annotations

import signal
import sqlite3
from collections.abc import Callable, Iterator

import httpx
import pytest

from tests.support import fake_telegram
from tests.support.channels import (
    TELEGRAM_SECRET,
    bindings,
    channel_env,
    channel_server,
    code_in,
    link_telegram_with_bot_code,
    new_chat_id,
    next_reply,
    telegram_says,
)
from tests.support.fake_telegram import FakeTelegram
from tests.support.server import ServerProcess
from tests.support.waiting import wait_until


@pytest.fixture(scope="module")
def telegram() -> Iterator[FakeTelegram]:
    with FakeTelegram() as fake:
        yield fake


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, telegram: FakeTelegram
) -> Iterator[ServerProcess]:
    with channel_server(tmp_path_factory.mktemp("telegram"), telegram, None) as server:
        yield server


@pytest.fixture
def chat() -> int:
    return new_chat_id()


@pytest.fixture
def user(server: ServerProcess) -> str:
    """A fresh user's token: each test starts with no bindings."""
    return server.new_user_token(f"user{new_chat_id()}")


def _bot_code(server: ServerProcess, telegram: FakeTelegram, chat: int) -> str:
    seen = len(telegram.sent(chat))
    assert telegram_says(server, telegram, chat, "/link").status_code == 200
    return code_in(next_reply(lambda: telegram.sent(chat), seen))


def _redeem(server: ServerProcess, token: str, code: str) -> httpx.Response:
    with server.client(token) as c:
        return c.post("/api/auth/channel-bindings/redeem", json={"code": code})


def test_link_command_gets_a_code_that_links_the_chat_when_redeemed(
    server: ServerProcess, telegram: FakeTelegram, chat: int, user: str
):
    binding = link_telegram_with_bot_code(server, telegram, user, chat)
    assert binding["target"] == f"telegram:{chat}"
    assert binding["status"] == "verified" and binding["displayName"] == "@alice"
    assert bindings(server, user) == [binding]
    with server.client(user) as c:
        assert c.get("/api/auth/me").json()["channelBindings"] == [binding]


def test_ui_code_sent_as_link_command_links_the_chat(
    server: ServerProcess, telegram: FakeTelegram, chat: int, user: str
):
    with server.client(user) as c:
        issued = c.post("/api/auth/channel-bindings/link-code")
    assert issued.status_code == 201, issued.text
    code = issued.json()["code"]
    assert f"/link {code}" in issued.json()["instructions"]
    assert telegram_says(server, telegram, chat, f"/link {code}").status_code == 200
    assert next_reply(lambda: telegram.sent(chat), 0).startswith("Linked")
    [binding] = bindings(server, user)
    assert binding["target"] == f"telegram:{chat}" and binding["status"] == "verified"


def test_update_with_wrong_or_missing_secret_token_is_401(
    server: ServerProcess, telegram: FakeTelegram, chat: int
):
    url = f"{server.url}/api/channels/telegram/webhook"
    for headers in ({"X-Telegram-Bot-Api-Secret-Token": "wrong"}, {}):
        response = httpx.post(url, json=telegram.update(chat, "/link"), headers=headers)
        assert response.status_code == 401
        assert "X-Telegram-Bot-Api-Secret-Token" in response.json()["error"]
    assert telegram.sent(chat) == []


def test_a_code_cannot_be_redeemed_twice(
    server: ServerProcess, telegram: FakeTelegram, chat: int, user: str
):
    code = _bot_code(server, telegram, chat)
    assert _redeem(server, user, code).status_code == 200
    again = _redeem(server, user, code)
    assert again.status_code == 400
    assert "already used" in again.json()["error"]


def test_an_expired_code_is_refused(
    server: ServerProcess, telegram: FakeTelegram, chat: int, user: str
):
    code = _bot_code(server, telegram, chat)
    with sqlite3.connect(server.data_dir / "octipus.db") as db:  # 15 minutes pass
        db.execute("UPDATE link_codes SET expires_at = datetime('now', '-1 second')")
    response = _redeem(server, user, code)
    assert response.status_code == 400
    assert "expired" in response.json()["error"]
    assert bindings(server, user) == []


def test_an_unknown_code_is_refused(server: ServerProcess, user: str):
    response = _redeem(server, user, "QQQQQQ")
    assert response.status_code == 400
    assert "Unknown code" in response.json()["error"]


def test_a_chat_linked_to_another_user_is_409(
    server: ServerProcess, telegram: FakeTelegram, chat: int, user: str
):
    link_telegram_with_bot_code(server, telegram, server.token, chat)
    response = _redeem(server, user, _bot_code(server, telegram, chat))
    assert response.status_code == 409
    assert "another user" in response.json()["error"]
    assert bindings(server, user) == []


def test_unlinking_removes_the_binding(
    server: ServerProcess, telegram: FakeTelegram, chat: int, user: str
):
    link_telegram_with_bot_code(server, telegram, user, chat)
    with server.client(user) as c:
        path = f"/api/auth/channel-bindings/telegram/{chat}"
        assert c.delete(path).json() == {"deleted": True}
        assert c.delete(path).status_code == 404
    assert bindings(server, user) == []


def test_group_chats_and_other_updates_get_no_code(
    server: ServerProcess, telegram: FakeTelegram, chat: int
):
    group = telegram.update(-chat, "/link")
    group["message"]["chat"] = {"id": -chat, "type": "group", "title": "team"}
    headers = {"X-Telegram-Bot-Api-Secret-Token": TELEGRAM_SECRET}
    url = f"{server.url}/api/channels/telegram/webhook"
    assert httpx.post(url, json=group, headers=headers).json() == {"ok": True}
    edited = {"update_id": 5, "edited_message": {"text": "/link"}}
    assert httpx.post(url, json=edited, headers=headers).json() == {"ok": True}
    telegram_says(server, telegram, chat, "/start")
    assert "/link" in next_reply(lambda: telegram.sent(chat), 0)
    assert telegram.sent(-chat) == []


def test_polling_mode_links_a_chat_and_stops_cleanly(
    server_factory: Callable[..., ServerProcess], chat: int
):
    with FakeTelegram() as telegram:
        server = server_factory(env=channel_env(telegram, None, OCTIPUS_TELEGRAM_MODE="polling"))
        wait_until(lambda: telegram.calls("getUpdates"), what="the poller's first getUpdates")
        assert telegram.calls("deleteWebhook")
        telegram.push_message(chat, "/link")
        code = code_in(next_reply(lambda: telegram.sent(chat), 0))
        assert _redeem(server, server.token, code).status_code == 200
        # SIGTERM while a getUpdates long poll is open: uvicorn re-raises the signal after a
        # clean shutdown, so the status is -SIGTERM (a hang would end in SIGKILL instead).
        assert server.stop() in (0, -signal.SIGTERM)
    logs = server.logs()
    assert "Application shutdown complete" in logs and "Traceback" not in logs
    assert fake_telegram.TOKEN not in logs


def test_webhook_is_registered_with_the_secret_when_a_public_url_is_set(
    server_factory: Callable[..., ServerProcess],
):
    with FakeTelegram() as telegram:
        server_factory(env=channel_env(telegram, None, OCTIPUS_PUBLIC_URL="https://hooks.example"))
        wait_until(lambda: telegram.webhook, what="setWebhook")
    assert telegram.webhook == {
        "url": "https://hooks.example/api/channels/telegram/webhook",
        "secret_token": TELEGRAM_SECRET,
        "allowed_updates": ["message"],
    }

"""Webhook → queue → notify action → fake Telegram/Slack, through a real server (DESIGN §5, §6)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.channels import (
    channel_server,
    link_slack_with_ui_code,
    link_telegram_with_bot_code,
    new_chat_id,
    new_slack_user,
    telegram_says,
)
from tests.support.fake_slack import FakeSlack, failed, rate_limited
from tests.support.fake_telegram import FakeTelegram, too_many_requests
from tests.support.hooks import make_hook, send_github, unique_path
from tests.support.server import ServerProcess
from tests.support.signing import fixture_bytes
from tests.support.waiting import wait_until

SECRET = "s3cret-value"
TEMPLATE = (
    "{{webhook.event}} to {{webhook.body.repository.full_name}} by {{webhook.body.pusher.name}}"
)


@pytest.fixture(scope="module")
def telegram() -> Iterator[FakeTelegram]:
    with FakeTelegram() as fake:
        yield fake


@pytest.fixture(scope="module")
def slack() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        yield fake


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, telegram: FakeTelegram, slack: FakeSlack
) -> Iterator[ServerProcess]:
    with channel_server(tmp_path_factory.mktemp("notify"), telegram, slack) as server:
        yield server


@pytest.fixture
def alice(server: ServerProcess) -> str:
    return server.new_user_token(f"alice{uuid.uuid4().hex[:8]}")


def _notify_hook(server: ServerProcess, token: str, **config: Any) -> dict[str, Any]:
    path = unique_path("notify")
    with server.client(token) as c:
        return make_hook(c, path, SECRET, actionConfig={"notifyOwner": True, **config})


def _push(server: ServerProcess, hook: dict[str, Any], body: bytes | None = None) -> None:
    path = hook["triggerConfig"]["webhookPath"]
    response = send_github(server.url, path, body or fixture_bytes("github", "push"), SECRET)
    assert response.status_code == 202, response.text


def _finished(server: ServerProcess, token: str, hook: dict[str, Any]) -> dict[str, Any]:
    """The hook's only execution once it has reached a final status."""

    def done() -> dict[str, Any] | None:
        with server.client(token) as c:
            items = c.get(f"/api/hooks/{hook['id']}/executions").json()["executions"]
        return items[0] if items and items[0]["status"] in ("success", "error") else None

    return wait_until(done, timeout=30, what="the notify execution to finish")


def _rendered_push() -> str:
    body = json.loads(fixture_bytes("github", "push"))
    return f"push to {body['repository']['full_name']} by {body['pusher']['name']}"


def test_webhook_notifies_every_verified_binding_of_the_owner_and_nowhere_else(
    server: ServerProcess, telegram: FakeTelegram, slack: FakeSlack, alice: str
):
    alice_chat, alice_slack = new_chat_id(), new_slack_user()
    link_telegram_with_bot_code(server, telegram, alice, alice_chat)
    assert "Linked" in link_slack_with_ui_code(server, alice, alice_slack)
    bob = server.new_user_token(f"bob{uuid.uuid4().hex[:8]}")
    bob_chat = new_chat_id()
    link_telegram_with_bot_code(server, telegram, bob, bob_chat)
    never_redeemed = new_chat_id()  # sent /link, never redeemed its code: not verified
    telegram_says(server, telegram, never_redeemed, "/link")
    wait_until(lambda: telegram.sent(never_redeemed), what="the code reply")
    before = {c: len(telegram.sent(c)) for c in (alice_chat, bob_chat, never_redeemed)}

    hook = _notify_hook(server, alice, notifyMessage=TEMPLATE)
    _push(server, hook)
    execution = _finished(server, alice, hook)

    assert execution["status"] == "success", execution
    assert telegram.sent(alice_chat)[before[alice_chat] :] == [_rendered_push()]
    assert slack.sent(alice_slack) == [_rendered_push()]
    assert len(telegram.sent(bob_chat)) == before[bob_chat]
    assert len(telegram.sent(never_redeemed)) == before[never_redeemed]
    targets = sorted(d["target"] for d in execution["result"]["deliveries"])
    assert targets == sorted([f"telegram:{alice_chat}", f"slack:{alice_slack}"])


def test_default_message_names_the_event(server: ServerProcess, telegram: FakeTelegram, alice: str):
    chat = new_chat_id()
    link_telegram_with_bot_code(server, telegram, alice, chat)
    hook = _notify_hook(server, alice)
    _push(server, hook)
    assert _finished(server, alice, hook)["status"] == "success"
    assert telegram.sent(chat)[-1] == "Webhook received: push"


def test_owner_without_verified_channels_gets_a_clear_error(server: ServerProcess, alice: str):
    hook = _notify_hook(server, alice)
    _push(server, hook)
    execution = _finished(server, alice, hook)
    assert execution["status"] == "error"
    assert execution["error"] == "No channels linked — link one in Settings → Channels"


def test_notify_channels_of_another_user_are_refused_at_save_time(
    server: ServerProcess, telegram: FakeTelegram, alice: str
):
    bob_chat = new_chat_id()
    link_telegram_with_bot_code(server, telegram, server.token, bob_chat)
    with server.client(alice) as c:
        response = c.post(
            "/api/hooks",
            json={
                "name": "steal",
                "triggerConfig": {"webhookPath": unique_path(), "webhookSecret": SECRET},
                "action": "notify",
                "actionConfig": {"notifyOwner": False, "notifyChannels": [f"telegram:{bob_chat}"]},
            },
        )
    assert response.status_code == 400
    assert f"telegram:{bob_chat}" in response.json()["error"]


def test_a_misspelt_field_is_refused_at_save_time(server: ServerProcess, alice: str):
    with server.client(alice) as c:
        response = c.post(
            "/api/hooks",
            json={
                "name": "typo",
                "triggerConfig": {"webhookPath": unique_path(), "webhookSecret": SECRET},
                "action": "notify",
                "actionConfig": {"notifyowner": True},
            },
        )
    assert response.status_code == 400
    assert "actionConfig.notifyowner: unknown field" in response.json()["error"]


def test_notify_channels_are_checked_again_at_send_time(
    server: ServerProcess, telegram: FakeTelegram, alice: str
):
    chat = new_chat_id()
    link_telegram_with_bot_code(server, telegram, alice, chat)
    hook = _notify_hook(server, alice, notifyOwner=False, notifyChannels=[f"telegram:{chat}"])
    sent_before = len(telegram.sent(chat))
    with server.client(alice) as c:
        assert c.delete(f"/api/auth/channel-bindings/telegram/{chat}").status_code == 200
    _push(server, hook)
    execution = _finished(server, alice, hook)
    assert execution["status"] == "error"
    assert f"telegram:{chat}" in execution["error"]
    assert len(telegram.sent(chat)) == sent_before


def test_telegram_429_is_retried_after_the_advertised_delay(
    server: ServerProcess, telegram: FakeTelegram, alice: str
):
    chat = new_chat_id()
    link_telegram_with_bot_code(server, telegram, alice, chat)
    hook = _notify_hook(server, alice)
    telegram.fail_next("sendMessage", too_many_requests(1))
    _push(server, hook)
    execution = _finished(server, alice, hook)
    assert execution["status"] == "success" and execution["attempts"] == 2
    calls = [c for c in telegram.calls("sendMessage") if c.payload["chat_id"] == str(chat)]
    refused, delivered = calls[-2:]
    assert delivered.at - refused.at >= 0.9  # retry_after: 1 (less a little clock skew)
    assert telegram.sent(chat)[-1] == "Webhook received: push"


def test_slack_429_is_retried_after_its_retry_after_header(
    server: ServerProcess, slack: FakeSlack, alice: str
):
    user = new_slack_user()
    link_slack_with_ui_code(server, alice, user)
    hook = _notify_hook(server, alice)
    slack.fail_next("chat.postMessage", rate_limited(1))
    _push(server, hook)
    execution = _finished(server, alice, hook)
    assert execution["status"] == "success" and execution["attempts"] == 2
    refused, delivered = slack.calls("chat.postMessage")[-2:]
    assert delivered.at - refused.at >= 0.9
    assert slack.sent(user) == ["Webhook received: push"]


def test_a_5xx_is_retried_and_a_retry_does_not_repeat_what_was_delivered(
    server: ServerProcess, telegram: FakeTelegram, slack: FakeSlack, alice: str
):
    chat, user = new_chat_id(), new_slack_user()
    link_telegram_with_bot_code(server, telegram, alice, chat)
    link_slack_with_ui_code(server, alice, user)
    sent_before = len(telegram.sent(chat))
    hook = _notify_hook(server, alice)
    slack.fail_next("chat.postMessage", failed("service_unavailable", 503))
    _push(server, hook)
    execution = _finished(server, alice, hook)
    assert execution["status"] == "success" and execution["attempts"] == 2
    assert telegram.sent(chat)[sent_before:] == ["Webhook received: push"]
    assert slack.sent(user) == ["Webhook received: push"]


def test_a_long_message_arrives_whole_split_in_order(
    server: ServerProcess, telegram: FakeTelegram, slack: FakeSlack, alice: str
):
    chat, user = new_chat_id(), new_slack_user()
    link_telegram_with_bot_code(server, telegram, alice, chat)
    link_slack_with_ui_code(server, alice, user)
    sent_before = len(telegram.sent(chat))
    text = "\n".join(f"{i:05d} <{'&' * 3}> *not bold* " + "x" * 70 for i in range(120))
    hook = _notify_hook(server, alice, notifyMessage="{{webhook.body.text}}")
    _push(server, hook, json.dumps({"text": text}).encode())
    assert _finished(server, alice, hook)["status"] == "success"

    telegram_parts = telegram.sent(chat)[sent_before:]
    assert len(telegram_parts) == 3 and all(len(p) <= 4096 for p in telegram_parts)
    assert "".join(telegram_parts) == text
    slack_parts = slack.sent(user)
    assert len(slack_parts) == 3 and "".join(slack_parts) == text

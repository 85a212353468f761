"""Failure alerts at a local fake Telegram, and auto-pause with resume, through a real server."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.support.channels import (
    channel_env,
    channel_server,
    link_telegram_with_bot_code,
    new_chat_id,
)
from tests.support.cluster import SERVE, start_nodes
from tests.support.fake_telegram import FakeTelegram
from tests.support.hooks import make_hook, send_github, unique_path
from tests.support.receiver import Receiver, Reply
from tests.support.server import ServerProcess
from tests.support.waiting import finished_executions, wait_until

SECRET = "s3cret-value"
IN_A_ROW = 3


@pytest.fixture(scope="module")
def telegram() -> Iterator[FakeTelegram]:
    with FakeTelegram() as fake:
        yield fake


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, telegram: FakeTelegram
) -> Iterator[ServerProcess]:
    env = {
        "OCTIPUS_FORWARD_ALLOW_HOSTS": "127.0.0.1",
        "OCTIPUS_ALERT_CONSECUTIVE_FAILURES": str(IN_A_ROW),
        "OCTIPUS_ALERT_WINDOW_SECONDS": "3600",
        "OCTIPUS_PUBLIC_URL": "https://hooks.example.test",
    }
    with channel_server(tmp_path_factory.mktemp("alerts"), telegram, None, **env) as server:
        yield server


@pytest.fixture
def owner(server: ServerProcess, telegram: FakeTelegram) -> tuple[str, int]:
    """A user with a verified Telegram binding: (token, chat id)."""
    token = server.new_user_token(f"owner{uuid.uuid4().hex[:8]}")
    chat = new_chat_id()
    link_telegram_with_bot_code(server, telegram, token, chat)
    return token, chat


def _failing_hook(
    server: ServerProcess, receiver: Receiver, token: str, failures: int, **fields: Any
) -> dict[str, Any]:
    """A forward hook whose target answers 503 `failures` times, then 200."""
    target = f"/{unique_path('down')}"
    receiver.script(target, *[Reply(503, b"upstream down")] * failures)
    with server.client(token) as c:
        return make_hook(
            c,
            unique_path("alerts"),
            action="webhook",
            actionConfig={"webhookUrl": receiver.url + target},
            **fields,
        )


def _deliver(server: ServerProcess, hook: dict[str, Any], count: int) -> None:
    path = hook["triggerConfig"]["webhookPath"]
    for n in range(count):
        response = send_github(server.url, path, b'{"n": %d}' % n, SECRET)
        assert response.status_code == 202, response.text


def _hook(server: ServerProcess, token: str, hook_id: str) -> dict[str, Any]:
    with server.client(token) as c:
        return dict(c.get(f"/api/hooks/{hook_id}").json()["hook"])


def _streak_reaches(server: ServerProcess, token: str, hook_id: str, streak: int) -> None:
    """Until every failed attempt is recorded on the hook (the alerts have been decided)."""
    wait_until(
        lambda: _hook(server, token, hook_id)["failureStreak"] >= streak,
        what=f"a failure streak of {streak}",
    )


def _alerts(telegram: FakeTelegram, chat: int) -> list[str]:
    return [text for text in telegram.sent(chat) if "Octipus: hook" in text]


def test_a_hook_failing_repeatedly_alerts_its_owner_once_per_window(
    server: ServerProcess, telegram: FakeTelegram, receiver: Receiver, owner: tuple[str, int]
):
    token, chat = owner
    hook = _failing_hook(server, receiver, token, 100, retry={"maxAttempts": 2})
    _deliver(server, hook, 4)
    with server.client(token) as c:
        failed = finished_executions(c, hook["id"], count=4)
    _streak_reaches(server, token, hook["id"], 8)

    assert {e["status"] for e in failed} == {"error"}
    alerts = wait_until(lambda: _alerts(telegram, chat), what="the alert")
    assert len(alerts) == 1
    assert hook["name"] in alerts[0]
    assert "503" in alerts[0]
    link = f"https://hooks.example.test/ui/hooks/{hook['id']}/executions?status=error"
    assert link in alerts[0]


def test_after_the_window_the_next_failure_alerts_again(
    server: ServerProcess, telegram: FakeTelegram, receiver: Receiver, owner: tuple[str, int]
):
    token, chat = owner
    hook = _failing_hook(server, receiver, token, 100, retry={"maxAttempts": 1})
    _deliver(server, hook, 1)
    wait_until(lambda: _alerts(telegram, chat), what="the first alert")
    with sqlite3.connect(server.data_dir / "octipus.db") as db:  # the window passes
        db.execute(
            "UPDATE hooks SET last_alert_at = '2000-01-01 00:00:00.000000' WHERE id = ?",
            (hook["id"],),
        )

    _deliver(server, hook, 1)

    wait_until(lambda: len(_alerts(telegram, chat)) == 2, what="a second alert")


def test_a_success_resets_the_streak_so_scattered_failures_do_not_alert(
    server: ServerProcess, telegram: FakeTelegram, receiver: Receiver, owner: tuple[str, int]
):
    token, chat = owner
    hook = _failing_hook(server, receiver, token, IN_A_ROW - 1, retry={"maxAttempts": IN_A_ROW})
    _deliver(server, hook, 1)  # fails IN_A_ROW - 1 times, then succeeds
    with server.client(token) as c:
        done = finished_executions(c, hook["id"])

    assert done[0]["status"] == "success"
    assert _hook(server, token, hook["id"])["failureStreak"] == 0
    assert _alerts(telegram, chat) == []


def test_auto_pause_holds_deliveries_and_resume_replays_them(
    server: ServerProcess, telegram: FakeTelegram, receiver: Receiver, owner: tuple[str, int]
):
    token, chat = owner
    hook = _failing_hook(server, receiver, token, 2, retry={"maxAttempts": 1}, autoPauseAfter=2)
    assert hook["autoPauseAfter"] == 2
    _deliver(server, hook, 2)
    paused = wait_until(
        lambda: (h := _hook(server, token, hook["id"]))["pausedReason"] and h,
        what="the hook to pause",
    )
    assert paused["isEnabled"] is False
    assert "2 failed attempts in a row" in paused["pausedReason"]
    # The first failure gave up (one attempt) and alerted; the pause is told even in the window.
    wait_until(
        lambda: [a for a in _alerts(telegram, chat) if "was paused" in a], what="the pause alert"
    )

    _deliver(server, hook, 3)  # while paused: held, not run
    with server.client(token) as c:
        held = finished_executions(c, hook["id"], count=3, statuses=("held",))
        resumed = c.post(f"/api/hooks/{hook['id']}/resume")
        assert resumed.status_code == 200, resumed.text
        replayed = finished_executions(c, hook["id"], count=3, statuses=("success",))

    assert resumed.json()["requeued"] == 3
    assert resumed.json()["hook"]["isEnabled"] is True
    assert resumed.json()["hook"]["pausedReason"] is None
    assert {e["id"] for e in replayed} == {e["id"] for e in held}


def test_another_user_cannot_resume_a_hook(
    server: ServerProcess, receiver: Receiver, owner: tuple[str, int]
):
    token, _ = owner
    hook = _failing_hook(server, receiver, token, 0)
    stranger = server.new_user_token(f"stranger{uuid.uuid4().hex[:8]}")
    with server.client(stranger) as c:
        response = c.post(f"/api/hooks/{hook['id']}/resume")

    assert response.status_code == 404


def test_two_nodes_on_postgresql_send_one_alert_between_them(
    server_factory: Callable[..., ServerProcess],
    pg_database_url: str,
    telegram: FakeTelegram,
    receiver: Receiver,
):
    env = channel_env(telegram, None) | {
        "OCTIPUS_DATABASE_URL": pg_database_url,
        "OCTIPUS_FORWARD_ALLOW_HOSTS": "127.0.0.1",
        "OCTIPUS_ALERT_CONSECUTIVE_FAILURES": str(IN_A_ROW),
    }
    nodes = start_nodes(server_factory, env, [SERVE, SERVE])
    token = nodes[0].new_user_token(f"owner{uuid.uuid4().hex[:8]}")
    chat = new_chat_id()
    link_telegram_with_bot_code(nodes[0], telegram, token, chat)
    hook = _failing_hook(nodes[0], receiver, token, 100, retry={"maxAttempts": 2})
    for node in nodes:  # each node's ingress and workers take part
        _deliver(node, hook, 3)
    with nodes[0].client(token) as c:
        finished_executions(c, hook["id"], count=6, timeout=60)
    _streak_reaches(nodes[0], token, hook["id"], 12)

    alerts = wait_until(lambda: _alerts(telegram, chat), what="the alert")
    assert len(alerts) == 1

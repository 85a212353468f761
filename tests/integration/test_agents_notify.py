"""spawn_agent with notifyOwner: the agent's output reaches the owner's verified channels."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.support.channels import channel_env, link_telegram_with_bot_code
from tests.support.fake_openai import FakeOpenAI, answer
from tests.support.fake_slack import FakeSlack
from tests.support.fake_telegram import FakeTelegram
from tests.support.hooks import make_hook, send_github, unique_path
from tests.support.server import ServerProcess
from tests.support.signing import fixture_bytes
from tests.support.waiting import finished_executions, wait_until

SECRET = "agent-notify-secret"
CHAT = 4242


@pytest.fixture
def telegram() -> Iterator[FakeTelegram]:
    with FakeTelegram() as fake:
        yield fake


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        yield fake


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as provider:
        yield provider


def run_agent_hook(server: ServerProcess) -> dict:
    path = unique_path("notify")
    config = {"agentPrompt": "Summarise.", "notifyOwner": True}
    with server.client() as client:
        hook = make_hook(client, path, SECRET, action="spawn_agent", actionConfig=config)
        body = fixture_bytes("github", "issues.opened")
        assert send_github(server.url, path, body, SECRET, "issues").status_code == 202
        return finished_executions(client, hook["id"])[0]


def test_agent_output_is_sent_to_the_linked_chat_and_recorded(
    server_factory: Callable[..., ServerProcess],
    telegram: FakeTelegram,
    slack: FakeSlack,
    fake: FakeOpenAI,
) -> None:
    env = channel_env(
        telegram,
        slack,
        OCTIPUS_AGENT_MODEL="openai:fake-model",
        OCTIPUS_AGENT_BASE_URL=fake.url,
    )
    server = server_factory(env=env)
    link_telegram_with_bot_code(server, telegram, server.token, CHAT)
    long_output = "Issue #1 was opened. " + "Details. " * 1000  # over Telegram's 4096 limit
    fake.script(answer(long_output))
    sent_before = len(telegram.sent(CHAT))

    execution = run_agent_hook(server)

    assert execution["status"] == "success", execution
    [delivery] = execution["result"]["notified"]
    assert delivery["target"] == f"telegram:{CHAT}"
    assert delivery["status"] == "sent"
    assert delivery["parts"] > 1
    sent = telegram.sent(CHAT)[sent_before:]
    assert len(sent) == delivery["parts"]
    assert "".join(sent).replace("\n", " ").split() == long_output.split()


def test_offline_summary_is_sent_when_no_model_is_configured(
    server_factory: Callable[..., ServerProcess], telegram: FakeTelegram, slack: FakeSlack
) -> None:
    server = server_factory(env=channel_env(telegram, slack))
    link_telegram_with_bot_code(server, telegram, server.token, CHAT)
    sent_before = len(telegram.sent(CHAT))

    execution = run_agent_hook(server)

    assert execution["status"] == "success", execution
    assert execution["result"]["model"] == "builtin:summary"
    [message] = telegram.sent(CHAT)[sent_before:]
    assert message == execution["result"]["output"]
    assert "Codertocat opened issue #1" in message


def test_no_linked_channel_is_a_warning_on_a_successful_run_and_its_hook(
    server_factory: Callable[..., ServerProcess],
) -> None:
    """The Quick start's hook on a fresh install: the summary is there, the run is green, and
    the run and the hook both say how to get it sent."""
    server = server_factory()

    execution = run_agent_hook(server)

    assert execution["status"] == "success", execution
    assert execution["error"] is None
    assert "Codertocat opened issue #1" in execution["result"]["output"]
    assert execution["result"]["notified"] == []
    warning = "notifyOwner: no verified channel — link a channel in Settings → Channels"
    assert execution["result"]["warnings"] == [warning]

    def hook_warned() -> dict | None:  # hook rows are written in batches, about once a second
        with server.client() as client:
            hook = client.get(f"/api/hooks/{execution['hookId']}").json()["hook"]
        return hook if hook["lastWarning"] else None

    hook = wait_until(hook_warned, 10, "the hook's lastWarning")
    assert hook["lastWarning"] == warning
    assert hook["lastError"] is None

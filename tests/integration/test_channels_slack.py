"""Linking Slack users through a real server and a fake Slack Web API (DESIGN §6)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from tests.support.channels import (
    bindings,
    channel_server,
    code_in,
    link_slack_with_ui_code,
    new_slack_user,
    slack_says,
)
from tests.support.fake_slack import FakeSlack, signed_command
from tests.support.server import ServerProcess


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with FakeSlack() as slack, channel_server(tmp_path_factory.mktemp("slack"), None, slack) as s:
        yield s


@pytest.fixture
def user(server: ServerProcess) -> str:
    """A fresh user's token: each test starts with no bindings."""
    return server.new_user_token(f"user{new_slack_user()}")


@pytest.fixture
def alice() -> str:
    """A Slack user id no other test uses."""
    return new_slack_user()


def test_link_command_answers_a_code_that_links_the_user_when_redeemed(
    server: ServerProcess, user: str, alice: str
):
    response = slack_says(server, alice, "")
    assert response.status_code == 200, response.text
    reply = response.json()
    assert reply["response_type"] == "ephemeral"
    with server.client() as c:
        redeemed = c.post(
            "/api/auth/channel-bindings/redeem", json={"code": code_in(reply["text"])}
        )
    assert redeemed.status_code == 200, redeemed.text
    binding = redeemed.json()["binding"]
    assert binding["target"] == f"slack:{alice}" and binding["status"] == "verified"
    assert binding["displayName"] == "alice"


def test_ui_code_typed_as_link_command_links_the_user(server: ServerProcess, user: str, alice: str):
    assert link_slack_with_ui_code(server, user, alice).startswith("Linked")
    [binding] = bindings(server, user)
    assert binding["target"] == f"slack:{alice}" and binding["status"] == "verified"


def test_reused_ui_code_is_refused_in_slack(server: ServerProcess, user: str, alice: str):
    with server.client(user) as c:
        code = c.post("/api/auth/channel-bindings/link-code").json()["code"]
    assert slack_says(server, alice, code).json()["text"].startswith("Linked")
    again = slack_says(server, new_slack_user(), code).json()["text"]
    assert again.startswith("Not linked") and "already used" in again
    assert [b["target"] for b in bindings(server, user)] == [f"slack:{alice}"]


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda h: {"Content-Type": h["Content-Type"]}, id="unsigned"),
        pytest.param(lambda h: {**h, "X-Slack-Signature": "v0=" + "0" * 64}, id="wrong-signature"),
        pytest.param(lambda h: {**h, "X-Slack-Signature": "garbage"}, id="malformed-signature"),
    ],
)
def test_command_without_a_valid_signature_is_401(server: ServerProcess, user: str, tamper):
    with server.client(user) as c:
        code = c.post("/api/auth/channel-bindings/link-code").json()["code"]
    body, headers = signed_command(new_slack_user(), code)
    response = httpx.post(
        f"{server.url}/api/channels/slack/commands", content=body, headers=tamper(headers)
    )
    assert response.status_code == 401
    assert "X-Slack-Signature" in response.json()["error"]
    assert bindings(server, user) == []


def test_command_signed_with_a_stale_timestamp_is_401(server: ServerProcess):
    body, headers = signed_command(new_slack_user(), "", timestamp=int(time.time()) - 600)
    response = httpx.post(
        f"{server.url}/api/channels/slack/commands", content=body, headers=headers
    )
    assert response.status_code == 401
    assert "X-Slack-Request-Timestamp" in response.json()["error"]

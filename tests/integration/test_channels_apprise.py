"""Apprise destinations: verified by a code sent to them before they receive anything."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import pytest

from tests.support.channels import bindings, channel_server, code_in
from tests.support.hooks import make_hook, send_github, unique_path
from tests.support.receiver import Receiver
from tests.support.server import ServerProcess
from tests.support.signing import fixture_bytes
from tests.support.waiting import wait_until

SECRET = "s3cret-value"


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with Receiver() as fake:
        yield fake


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    data_dir = tmp_path_factory.mktemp("apprise")
    with channel_server(data_dir, None, None, OCTIPUS_FORWARD_ALLOW_HOSTS="127.0.0.1") as server:
        yield server


@pytest.fixture
def user(server: ServerProcess) -> str:
    return server.new_user_token(f"user{uuid.uuid4().hex[:8]}")


def _messages(receiver: Receiver, path: str) -> list[str]:
    return [json.loads(r.body)["message"] for r in receiver.requests(path)]


def _notify_once(server: ServerProcess, token: str) -> dict:
    """Send one GitHub push to a new notify hook of `token`'s user; its finished execution."""
    path = unique_path("apprise")
    with server.client(token) as c:
        hook = make_hook(c, path, SECRET)
    assert send_github(server.url, path, fixture_bytes("github", "push"), SECRET).status_code == 202

    def finished() -> dict | None:
        with server.client(token) as c:
            items = c.get(f"/api/hooks/{hook['id']}/executions").json()["executions"]
        return items[0] if items and items[0]["status"] in ("success", "error") else None

    return wait_until(finished, what="the notify execution to finish")


def test_destination_receives_notifications_only_after_its_code_is_typed_back(
    server: ServerProcess, receiver: Receiver, user: str
):
    path = f"/{uuid.uuid4().hex}"
    url = f"json://{receiver.url.removeprefix('http://')}{path}"
    with server.client(user) as c:
        added = c.post("/api/auth/channel-bindings/apprise", json={"url": url, "name": "my hook"})
    assert added.status_code == 201, added.text
    binding = added.json()["binding"]
    assert binding["status"] == "pending" and added.json()["codeSent"] is True
    [code_message] = _messages(receiver, path)
    code = code_in(code_message)

    execution = _notify_once(server, user)
    assert execution["error"] == "No channels linked — link one in Settings → Channels"
    assert len(_messages(receiver, path)) == 1

    verify = f"/api/auth/channel-bindings/apprise/{binding['externalId']}/verify"
    with server.client(user) as c:
        assert c.post(verify, json={"code": "ZZZZZZ"}).status_code == 400
        verified = c.post(verify, json={"code": code})
    assert verified.status_code == 200, verified.text
    assert verified.json()["binding"]["status"] == "verified"

    assert _notify_once(server, user)["status"] == "success"
    assert _messages(receiver, path)[1:] == ["Webhook received: push"]


def test_the_destination_url_is_never_shown(server: ServerProcess, receiver: Receiver, user: str):
    url = f"json://user:hunter2@{receiver.url.removeprefix('http://')}/secret-path"
    with server.client(user) as c:
        assert c.post("/api/auth/channel-bindings/apprise", json={"url": url}).status_code == 201
    [binding] = bindings(server, user)
    assert "hunter2" not in json.dumps(binding)
    assert binding["displayName"].startswith("JSON (")


@pytest.mark.parametrize(
    "url,reason",
    [
        ("json://10.1.2.3/hook", "private address"),
        ("ntfys://localhost/topic", "loopback address"),
        ("bogus://example", "not a single Apprise URL"),
    ],
)
def test_unusable_destinations_are_refused(server: ServerProcess, user: str, url: str, reason: str):
    with server.client(user) as c:
        response = c.post("/api/auth/channel-bindings/apprise", json={"url": url})
    assert response.status_code == 400
    assert reason in response.json()["error"]
    assert bindings(server, user) == []

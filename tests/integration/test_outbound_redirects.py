"""Redirects from an allowed host are never followed into internal space, on every outbound
path a user reaches: forwards, the http tool, Apprise destinations (when added and when
notified).

The server allows only `localhost`; the receivers listen on 127.0.0.1, so the literal
`127.0.0.1:<port>` a redirect points at is an internal address that is not allowed.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import pytest

from tests.integration.test_channels_apprise import _notify_once
from tests.integration.test_forward import deliver, forward_hook, only_execution
from tests.integration.test_tools import run_tool
from tests.support.channels import channel_server, code_in
from tests.support.receiver import Receiver, Reply
from tests.support.server import ServerProcess

METADATA = "http://169.254.169.254/latest/meta-data/"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    data_dir = tmp_path_factory.mktemp("redirects")
    extra = {"OCTIPUS_FORWARD_ALLOW_HOSTS": "localhost", "OCTIPUS_RETRY_BASE_SCALE": "0.0001"}
    with channel_server(data_dir, None, None, **extra) as server:
        yield server


@pytest.fixture(scope="module")
def allowed() -> Iterator[Receiver]:
    """Reached as `localhost`: the one allowed host."""
    with Receiver() as fake:
        yield fake


@pytest.fixture(scope="module")
def internal() -> Iterator[Receiver]:
    """Reached only as 127.0.0.1:<port>, which is not allowed: it must never see a request."""
    with Receiver() as fake:
        yield fake


def _as_localhost(receiver: Receiver, path: str) -> str:
    return receiver.url.replace("127.0.0.1", "localhost") + path


def _redirect_targets(internal: Receiver) -> list[str]:
    return [f"{internal.url}/secret", METADATA]


@pytest.fixture(params=[(302, 0), (307, 0), (302, 1), (307, 1)], ids=lambda p: f"{p[0]}-{p[1]}")
def redirect(request: pytest.FixtureRequest, internal: Receiver) -> tuple[int, str]:
    """A redirect status and where it points: the internal receiver, or cloud metadata."""
    status, target = request.param
    return status, _redirect_targets(internal)[target]


def test_a_forward_does_not_follow_a_redirect(
    server: ServerProcess, allowed: Receiver, internal: Receiver, redirect: tuple[int, str]
):
    status, location = redirect
    path = f"/{uuid.uuid4().hex}"
    allowed.script(path, Reply(status, b"", {"Location": location}))
    hook = forward_hook(server, _as_localhost(allowed, path))
    deliver(server, hook)

    execution = only_execution(server, hook)
    assert execution["status"] == "error"
    assert f"answered {status}" in execution["error"]
    assert f"redirects are not followed (Location: {location})" in execution["error"]
    assert len(allowed.requests(path)) == 1
    assert internal.requests() == []


def test_the_http_tool_does_not_follow_a_redirect(
    server: ServerProcess, allowed: Receiver, internal: Receiver, redirect: tuple[int, str]
):
    status, location = redirect
    path = f"/{uuid.uuid4().hex}"
    allowed.script(path, Reply(status, b"", {"Location": location}))
    params = {"method": "POST", "url": _as_localhost(allowed, path), "body": {"a": 1}}

    execution = run_tool(server, "http", "request", params, {})

    assert execution["status"] == "error"
    assert f"answered {status}; redirects are not followed" in execution["error"]
    assert len(allowed.requests(path)) == 1
    assert internal.requests() == []


def _add_destination(server: ServerProcess, user: str, url: str):
    with server.client(user) as c:
        return c.post("/api/auth/channel-bindings/apprise", json={"url": url})


def test_an_apprise_destination_that_redirects_is_refused_when_added(
    server: ServerProcess, allowed: Receiver, internal: Receiver, redirect: tuple[int, str]
):
    status, location = redirect
    user = server.new_user_token(f"user{uuid.uuid4().hex[:8]}")
    path = f"/{uuid.uuid4().hex}"
    allowed.script(path, Reply(status, b"", {"Location": location}))

    added = _add_destination(server, user, "json://" + _as_localhost(allowed, path)[7:])

    assert added.status_code == 400, added.text
    error = added.json()["error"]
    assert "Could not deliver the verification code" in error
    assert f"error={status}" in error and "redirects are not followed" in error
    assert len(allowed.requests(path)) == 1
    assert internal.requests() == []


def test_a_verified_apprise_destination_that_starts_redirecting_fails_the_notification(
    server: ServerProcess, allowed: Receiver, internal: Receiver
):
    user = server.new_user_token(f"user{uuid.uuid4().hex[:8]}")
    path = f"/{uuid.uuid4().hex}"
    added = _add_destination(server, user, "json://" + _as_localhost(allowed, path)[7:])
    assert added.status_code == 201, added.text
    code = code_in(json.loads(allowed.requests(path)[0].body)["message"])
    verify = f"/api/auth/channel-bindings/apprise/{added.json()['binding']['externalId']}/verify"
    with server.client(user) as c:
        assert c.post(verify, json={"code": code}).status_code == 200
    allowed.default = Reply(307, b"", {"Location": METADATA})
    try:
        execution = _notify_once(server, user)
    finally:
        allowed.default = Reply()

    assert execution["status"] == "error"
    assert "error=307" in execution["error"], execution
    assert "redirects are not followed" in execution["error"]
    assert internal.requests() == []


@pytest.mark.parametrize(
    "url,error",
    [
        ("json://localhost/?redirect=yes", "Octipus does not follow redirects"),
        ("json://127.0.0.1:9/", "Refusing to connect to 127.0.0.1: loopback address"),
        ("ntfys://169.254.169.254/topic", "Refusing to connect to 169.254.169.254"),
    ],
)
def test_apprise_urls_to_internal_hosts_or_following_redirects_are_refused(
    server: ServerProcess, url: str, error: str
):
    user = server.new_user_token(f"user{uuid.uuid4().hex[:8]}")
    added = _add_destination(server, user, url)
    assert added.status_code == 400, added.text
    assert error in added.json()["error"]

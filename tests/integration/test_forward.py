"""The `webhook` (forward) action through a real server to a local receiver (DESIGN §5)."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator

import pytest

from tests.support.hooks import make_hook, send_github, unique_path
from tests.support.receiver import Receiver, Reply
from tests.support.server import ServerProcess
from tests.support.signing import fixture_bytes
from tests.support.waiting import finished_executions

SECRET = "s3cret-value"


@pytest.fixture(scope="module")
def forward_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server that may forward to the loopback receiver, with a fast retry schedule."""
    env = {
        "OCTIPUS_FORWARD_ALLOW_HOSTS": "127.0.0.1",
        "OCTIPUS_RETRY_BASE_SCALE": "0.0001",
        "OCTIPUS_FORWARD_TIMEOUT_SECONDS": "1",
    }
    proc = ServerProcess(tmp_path_factory.mktemp("forward"), env).start()
    yield proc
    proc.kill()


def forward_hook(server: ServerProcess, url: str, **config) -> dict:
    retry = config.pop("retry", None)
    with server.client() as c:
        return make_hook(
            c,
            unique_path(),
            action="webhook",
            actionConfig={"webhookUrl": url, **config},
            **({"retry": retry} if retry else {}),
        )


def deliver(server: ServerProcess, hook: dict, body: bytes = b'{"n": 1}', event: str = "push"):
    path = hook["triggerConfig"]["webhookPath"]
    response = send_github(server.url, path, body, SECRET, event=event)
    assert response.status_code == 202, response.text


def only_execution(server: ServerProcess, hook: dict) -> dict:
    with server.client() as c:
        [execution] = finished_executions(c, hook["id"])
    return execution


def test_github_push_is_forwarded_with_the_rendered_template_and_idempotency_key(
    forward_server: ServerProcess, receiver: Receiver
):
    hook = forward_hook(
        forward_server,
        receiver.url + "/ci/{{webhook.event}}",
        webhookHeaders={"X-Repo": "{{webhook.body.repository.full_name}}"},
        webhookBody={
            "text": "{{webhook.body.pusher.name}} pushed to {{webhook.body.repository.full_name}}",
            "ref": "{{webhook.body.ref}}",
            "hook": "{{hook.name}}",
        },
        signingSecret="downstream-secret",
    )
    body = fixture_bytes("github", "push")
    push = json.loads(body)
    deliver(forward_server, hook, body)

    execution = only_execution(forward_server, hook)
    assert execution["status"] == "success", execution
    assert execution["result"]["status"] == 200
    [received] = receiver.requests("/ci/push")
    assert received.method == "POST"
    assert received.headers["idempotency-key"] == execution["id"]
    assert received.headers["x-repo"] == push["repository"]["full_name"]
    assert received.headers["content-type"] == "application/json"
    assert json.loads(received.body) == {
        "text": f"{push['pusher']['name']} pushed to {push['repository']['full_name']}",
        "ref": push["ref"],
        "hook": hook["name"],
    }
    expected = hmac.new(b"downstream-secret", received.body, hashlib.sha256).hexdigest()
    assert received.headers["x-hub-signature-256"] == f"sha256={expected}"


def test_without_a_body_template_the_original_body_and_content_type_are_forwarded(
    forward_server: ServerProcess, receiver: Receiver
):
    hook = forward_hook(forward_server, receiver.url + "/raw", webhookMethod="PUT")
    body = fixture_bytes("github", "pull_request.opened")
    deliver(forward_server, hook, body, event="pull_request")

    assert only_execution(forward_server, hook)["status"] == "success"
    [received] = receiver.requests("/raw")
    assert received.method == "PUT"
    assert received.body == body
    assert received.headers["content-type"] == "application/json"
    assert "x-hub-signature-256" not in received.headers


def test_a_string_body_template_is_sent_as_rendered_text(
    forward_server: ServerProcess, receiver: Receiver
):
    hook = forward_hook(
        forward_server,
        receiver.url + "/text",
        webhookBody="event={{webhook.event}} n={{webhook.body.n}}",
    )
    deliver(forward_server, hook)

    assert only_execution(forward_server, hook)["status"] == "success"
    [received] = receiver.requests("/text")
    assert received.body == b"event=push n=1"
    assert received.headers["content-type"] == "text/plain; charset=utf-8"


def test_5xx_answers_are_retried_until_the_receiver_accepts(
    forward_server: ServerProcess, receiver: Receiver
):
    receiver.script("/flaky", Reply(503), Reply(502))
    hook = forward_hook(forward_server, receiver.url + "/flaky")
    deliver(forward_server, hook)

    execution = only_execution(forward_server, hook)
    assert execution["status"] == "success"
    assert execution["attempts"] == 3
    keys = {r.headers["idempotency-key"] for r in receiver.requests("/flaky")}
    assert keys == {execution["id"]}
    assert len(receiver.requests("/flaky")) == 3


def test_retries_stop_at_the_hooks_max_attempts(forward_server: ServerProcess, receiver: Receiver):
    receiver.default = Reply(500, b"broken")
    hook = forward_hook(forward_server, receiver.url + "/down", retry={"maxAttempts": 3})
    deliver(forward_server, hook)

    execution = only_execution(forward_server, hook)
    assert execution["status"] == "error"
    assert execution["attempts"] == 3
    assert "500" in execution["error"] and "gave up after 3 attempts" in execution["error"]
    assert execution["result"]["body"] == "broken"
    assert len(receiver.requests("/down")) == 3


def test_a_timeout_is_retried(forward_server: ServerProcess, receiver: Receiver):
    receiver.script("/slow", Reply(200, delay=5))
    hook = forward_hook(forward_server, receiver.url + "/slow")
    deliver(forward_server, hook)

    execution = only_execution(forward_server, hook)
    assert execution["status"] == "success"
    assert execution["attempts"] == 2
    assert len(receiver.requests("/slow")) == 2


@pytest.mark.parametrize("status", [400, 401, 404, 410, 301])
def test_4xx_and_3xx_answers_fail_at_once(
    forward_server: ServerProcess, receiver: Receiver, status: int
):
    receiver.script("/refuses", Reply(status, b"nope", {"Location": "/elsewhere"}))
    hook = forward_hook(forward_server, receiver.url + "/refuses")
    deliver(forward_server, hook)

    execution = only_execution(forward_server, hook)
    assert execution["status"] == "error"
    assert execution["attempts"] == 1
    assert f"answered {status}" in execution["error"]
    assert execution["result"]["status"] == status
    assert len(receiver.requests("/refuses")) == 1
    assert receiver.requests("/elsewhere") == []


def test_429_waits_at_least_the_retry_after_the_receiver_asked_for(
    forward_server: ServerProcess, receiver: Receiver
):
    receiver.script("/busy", Reply(429, b"", {"Retry-After": "2"}))
    hook = forward_hook(forward_server, receiver.url + "/busy")
    deliver(forward_server, hook)

    execution = only_execution(forward_server, hook)
    assert execution["status"] == "success"
    first, second = receiver.requests("/busy")
    assert second.at - first.at >= 2.0


@pytest.mark.parametrize(
    "host,named",
    [
        ("127.0.0.1:{port}", "127.0.0.1"),
        ("169.254.169.254", "169.254.169.254"),
        ("10.0.0.1", "10.0.0.1"),
    ],
)
def test_forwards_to_internal_addresses_are_refused_unless_allow_listed(
    server: ServerProcess, receiver: Receiver, host: str, named: str
):
    port = receiver.url.rsplit(":", 1)[1]
    hook = forward_hook(server, "http://" + host.format(port=port) + "/x")
    deliver(server, hook)

    execution = only_execution(server, hook)
    assert execution["status"] == "error"
    assert execution["attempts"] == 1
    assert f"Refusing to connect to {named}" in execution["error"]
    assert "OCTIPUS_FORWARD_ALLOW_HOSTS" in execution["error"]
    assert receiver.requests() == []


def test_an_allow_listed_loopback_receiver_is_reached(
    forward_server: ServerProcess, receiver: Receiver
):
    hook = forward_hook(forward_server, receiver.url + "/allowed")
    deliver(forward_server, hook)

    assert only_execution(forward_server, hook)["status"] == "success"
    assert len(receiver.requests("/allowed")) == 1


@pytest.mark.parametrize(
    "config,field",
    [
        ({"webhookUrl": "ftp://example.com/x"}, "webhookUrl"),
        ({}, "webhookUrl"),
        ({"webhookUrl": "https://example.com", "webhookMethod": "TRACE"}, "webhookMethod"),
        (
            {"webhookUrl": "https://example.com", "webhookHeaders": {"Bad Name": "x"}},
            "webhookHeaders",
        ),
        ({"webhookUrl": "https://example.com", "webhookHeaders": {"Host": "x"}}, "webhookHeaders"),
        ({"webhookUrl": "https://example.com", "webhookHeaders": ["x"]}, "webhookHeaders"),
        ({"webhookUrl": "https://example.com", "webhookBody": 5}, "webhookBody"),
        ({"webhookUrl": "https://example.com", "signingSecret": ""}, "signingSecret"),
        ({"webhookUrl": "https://example.com", "webhookMethd": "GET"}, "webhookMethd"),
    ],
)
def test_invalid_forward_config_is_refused_naming_the_field(
    server: ServerProcess, config: dict, field: str
):
    with server.client() as c:
        response = c.post(
            "/api/hooks",
            json={
                "name": "bad forward",
                "triggerConfig": {"webhookPath": unique_path(), "webhookSecret": SECRET},
                "action": "webhook",
                "actionConfig": config,
            },
        )
    assert response.status_code == 400, response.text
    assert f"actionConfig.{field}" in response.json()["error"]

"""spawn_agent through the real server against a fake OpenAI-compatible provider."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.fake_openai import DEFAULT_ANSWER, FakeOpenAI, answer, call_tool, fail, slow
from tests.support.hooks import make_hook, send_github, unique_path
from tests.support.receiver import Receiver
from tests.support.server import ServerProcess
from tests.support.signing import fixture_bytes
from tests.support.waiting import finished_executions

SECRET = "agent-hook-secret"
API_KEY = "test-agent-key"
TIMEOUT_SECONDS = 5


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as provider:
        yield provider


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


@pytest.fixture(scope="module")
def agent_server(
    tmp_path_factory: pytest.TempPathFactory, fake: FakeOpenAI
) -> Iterator[ServerProcess]:
    env = {
        "OCTIPUS_AGENT_MODEL": "openai:fake-model",
        "OCTIPUS_AGENT_BASE_URL": fake.url,
        "OCTIPUS_AGENT_API_KEY": API_KEY,
        "OCTIPUS_AGENT_TIMEOUT_SECONDS": str(TIMEOUT_SECONDS),
        "OCTIPUS_RETRY_BASE_SCALE": "0.001",
        "OCTIPUS_FORWARD_ALLOW_HOSTS": "127.0.0.1",
    }
    proc = ServerProcess(tmp_path_factory.mktemp("agents"), env).start()
    yield proc
    proc.kill()


def agent_hook(server: ServerProcess, **config: Any) -> tuple[str, dict[str, Any]]:
    path = unique_path("agent")
    action_config = {"agentPrompt": "Summarise this event.", **config}
    with server.client() as client:
        hook = make_hook(client, path, SECRET, action="spawn_agent", actionConfig=action_config)
    return path, hook


def deliver(server: ServerProcess, path: str, fixture: str, event: str) -> None:
    response = send_github(server.url, path, fixture_bytes("github", fixture), SECRET, event)
    assert response.status_code == 202, response.text


def finished(server: ServerProcess, hook: dict[str, Any], timeout: float = 30) -> dict[str, Any]:
    with server.client() as client:
        return finished_executions(client, hook["id"], timeout=timeout)[0]


def test_prompt_holds_rendered_prompt_payload_and_event_type(
    agent_server: ServerProcess, fake: FakeOpenAI
) -> None:
    path, hook = agent_hook(
        agent_server, agentPrompt="Review PR #{{webhook.body.pull_request.number}} now."
    )
    seen = len(fake.requests())

    deliver(agent_server, path, "pull_request.opened", "pull_request")
    execution = finished(agent_server, hook)

    request = fake.requests()[seen]
    prompt = request.user_text
    assert prompt.startswith("Review PR #2 now.\n\n--- Webhook Payload ---\n{")
    assert '"title": "Update the README with new information."' in prompt
    assert prompt.endswith("\nEvent type: pull_request")
    assert "avatar_url" not in prompt
    assert request.headers["authorization"] == f"Bearer {API_KEY}"
    assert request.body["model"] == "fake-model"
    assert request.tool_names == []
    assert execution["status"] == "success"
    assert execution["result"]["model"] == "openai:fake-model"
    assert execution["result"]["output"] == DEFAULT_ANSWER


def test_usage_and_budgets_are_recorded(agent_server: ServerProcess) -> None:
    path, hook = agent_hook(agent_server)

    deliver(agent_server, path, "issues.opened", "issues")
    result = finished(agent_server, hook)["result"]

    assert result["usage"]["requests"] == 1
    assert result["usage"]["inputTokens"] > 0
    assert result["usage"]["totalTokens"] == (
        result["usage"]["inputTokens"] + result["usage"]["outputTokens"]
    )
    assert result["budgets"] == {
        "timeoutSeconds": TIMEOUT_SECONDS,
        "maxOutputTokens": 2048,
        "maxToolCalls": 10,
    }


def test_orchestrated_run_calls_a_tool_and_logs_the_call(
    agent_server: ServerProcess, fake: FakeOpenAI, receiver: Receiver
) -> None:
    path, hook = agent_hook(agent_server, orchestrated=True, agentTopic="devops")
    target = f"{receiver.url}/deploy-{path}"
    fake.script(
        answer("devops"),
        call_tool("http_request", {"method": "POST", "url": target, "body": {"rerun": True}}),
        answer("Re-ran the deployment."),
    )
    seen = len(fake.requests())

    deliver(agent_server, path, "workflow_run.completed", "workflow_run")
    execution = finished(agent_server, hook)

    assert execution["status"] == "success", execution
    result = execution["result"]
    assert result["classification"]["topic"] == "devops"
    assert result["classification"]["method"] == "model"
    assert result["output"] == "Re-ran the deployment."
    [call] = result["toolCalls"]
    assert (call["tool"], call["action"], call["ok"]) == ("http", "request", True)
    assert call["params"]["url"] == target
    assert call["result"]["status"] == 200
    assert result["usage"]["toolCalls"] == 1
    [received] = receiver.requests(f"/deploy-{path}")
    assert json.loads(received.body) == {"rerun": True}
    classify, act, final = fake.requests()[seen : seen + 3]
    assert "Event type: workflow_run" in classify.user_text
    assert sorted(act.tool_names) == ["http_request", "messaging_send_to_owner"]
    assert final.tool_results and '"status":200' in final.tool_results[0]["content"].replace(
        " ", ""
    )


def test_agent_shell_call_runs_its_own_args_with_nothing_substituted(
    agent_server: ServerProcess, fake: FakeOpenAI
) -> None:
    path, hook = agent_hook(
        agent_server, orchestrated=True, agentTopic="devops", agentTools=["shell.run"]
    )
    fake.script(
        answer("devops"),
        call_tool("shell_run", {"args": ["printf", "%s", "{{webhook.body.action}}"]}),
        answer("Printed it."),
    )

    deliver(agent_server, path, "workflow_run.completed", "workflow_run")
    execution = finished(agent_server, hook)

    assert execution["status"] == "success", execution
    [call] = execution["result"]["toolCalls"]
    assert (call["tool"], call["ok"]) == ("shell", True)
    assert call["result"]["stdout"] == "{{webhook.body.action}}"


def test_provider_server_error_is_retried(agent_server: ServerProcess, fake: FakeOpenAI) -> None:
    path, hook = agent_hook(agent_server)
    fake.script(fail(500), answer("second attempt worked"))

    deliver(agent_server, path, "star.created", "star")
    execution = finished(agent_server, hook)

    assert execution["status"] == "success"
    assert execution["attempts"] == 2
    assert execution["result"]["output"] == "second attempt worked"


def test_provider_timeout_is_retried(agent_server: ServerProcess, fake: FakeOpenAI) -> None:
    path, hook = agent_hook(agent_server)
    fake.script(slow(60), answer("in time"))

    deliver(agent_server, path, "release.published", "release")
    execution = finished(agent_server, hook, timeout=60)

    assert execution["status"] == "success"
    assert execution["attempts"] == 2
    assert execution["result"]["output"] == "in time"


def test_provider_errors_are_recorded_when_retries_run_out(
    agent_server: ServerProcess, fake: FakeOpenAI
) -> None:
    path = unique_path("agent")
    with agent_server.client() as client:
        hook = make_hook(
            client,
            path,
            SECRET,
            action="spawn_agent",
            actionConfig={"agentPrompt": "Summarise."},
            retry={"maxAttempts": 2},
        )
    fake.script(fail(503), fail(502))

    deliver(agent_server, path, "issues.opened", "issues")
    execution = finished(agent_server, hook)

    assert execution["status"] == "error"
    assert execution["attempts"] == 2
    assert "model provider error" in execution["error"]
    assert execution["result"]["model"] == "openai:fake-model"


def test_provider_rejection_fails_without_retry(
    agent_server: ServerProcess, fake: FakeOpenAI
) -> None:
    path, hook = agent_hook(agent_server)
    fake.script(fail(400))

    deliver(agent_server, path, "issues.opened", "issues")
    execution = finished(agent_server, hook)

    assert execution["status"] == "error"
    assert execution["attempts"] == 1
    assert "agent run failed" in execution["error"]


def test_hook_model_override_is_used(agent_server: ServerProcess, fake: FakeOpenAI) -> None:
    path, hook = agent_hook(agent_server, agentModel="openai:other-model")
    seen = len(fake.requests())

    deliver(agent_server, path, "issues.opened", "issues")
    execution = finished(agent_server, hook)

    assert execution["result"]["model"] == "openai:other-model"
    assert fake.requests()[seen].body["model"] == "other-model"


def test_invalid_agent_model_is_rejected_at_save_time(agent_server: ServerProcess) -> None:
    body = {
        "name": "bad model",
        "trigger": "webhook",
        "triggerConfig": {"webhookPath": unique_path("agent"), "webhookSecret": SECRET},
        "action": "spawn_agent",
        "actionConfig": {"agentPrompt": "x", "agentModel": "nosuch:model"},
    }
    with agent_server.client() as client:
        response = client.post("/api/hooks", json=body)

    assert response.status_code == 400
    assert "agentModel" in response.json()["error"]


def test_seed_spawn_agent_hook_body_is_accepted_and_runs(agent_server: ServerProcess) -> None:
    path = unique_path("github")
    seed_body = {
        "name": "GitHub Notifications",
        "trigger": "webhook",
        "triggerConfig": {"webhookPath": path, "webhookSecret": SECRET},
        "action": "spawn_agent",
        "actionConfig": {
            "agentPrompt": "A GitHub webhook event was received. "
            "Analyze the payload and produce a concise summary.",
            "agentTopic": "communication",
            "orchestrated": False,
            "notifyOwner": False,
        },
    }
    with agent_server.client() as client:
        response = client.post("/api/hooks", json=seed_body)
    assert response.status_code == 201, response.text

    deliver(agent_server, path, "push", "push")
    execution = finished(agent_server, response.json()["hook"])

    assert execution["status"] == "success"
    assert execution["result"]["topic"] == "communication"

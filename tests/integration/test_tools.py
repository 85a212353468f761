"""execute_tool through the real server: shell and http tools, save-time checks, policies."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.hooks import make_hook, send_github, unique_path
from tests.support.receiver import Receiver
from tests.support.server import ServerProcess
from tests.support.waiting import finished_executions

SECRET = "tool-hook-secret"


def tool_hook_body(path: str, tool: str, action: str, params: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": f"tool {path}",
        "trigger": "webhook",
        "triggerConfig": {"webhookPath": path, "webhookSecret": SECRET},
        "action": "execute_tool",
        "actionConfig": {"toolId": tool, "toolAction": action, "toolParams": params},
    }


def run_tool(
    server: ServerProcess, tool: str, action: str, params: dict[str, Any], payload: dict[str, Any]
) -> dict[str, Any]:
    """Create the hook, deliver `payload` to it, return the finished execution."""
    path = unique_path("tool")
    config = {"toolId": tool, "toolAction": action, "toolParams": params}
    with server.client() as client:
        hook = make_hook(client, path, SECRET, action="execute_tool", actionConfig=config)
        body = json.dumps(payload).encode()
        assert send_github(server.url, path, body, SECRET, "push").status_code == 202
        return finished_executions(client, hook["id"])[0]


def test_shell_command_gets_payload_values_as_literal_arguments(
    server: ServerProcess, tmp_path: Path
) -> None:
    out, marker = tmp_path / "out.txt", tmp_path / "pwned"
    title = f"$(touch {marker}); rm -rf {tmp_path}"
    params = {"command": f"printf %s {{{{webhook.body.title}}}} > {out}"}

    execution = run_tool(server, "shell", "execute", params, {"title": title})

    assert execution["status"] == "success", execution
    assert execution["result"]["exitCode"] == 0
    assert out.read_text() == title
    assert not marker.exists()


def test_shell_failure_is_an_error_with_the_output(server: ServerProcess) -> None:
    params = {"command": "echo building {{webhook.body.ref}}; echo broke >&2; exit 2"}

    execution = run_tool(server, "shell", "run", params, {"ref": "main"})

    assert execution["status"] == "error"
    assert execution["attempts"] == 1
    assert "status 2" in execution["error"]
    assert execution["result"]["exitCode"] == 2
    assert execution["result"]["stdout"] == "building main\n"
    assert execution["result"]["stderr"] == "broke\n"


def test_unknown_tool_is_rejected_with_400(server: ServerProcess) -> None:
    with server.client() as client:
        response = client.post("/api/hooks", json=tool_hook_body(unique_path(), "ftp", "get", {}))

    assert response.status_code == 400
    error = response.json()["error"]
    assert "toolId" in error and "shell" in error and "http" in error


def test_unknown_tool_action_is_rejected_with_400(server: ServerProcess) -> None:
    body = tool_hook_body(unique_path(), "shell", "sudo", {"command": "id"})
    with server.client() as client:
        response = client.post("/api/hooks", json=body)

    assert response.status_code == 400
    assert "toolAction" in response.json()["error"]


def test_shell_hook_of_a_non_admin_is_rejected_with_400(server: ServerProcess) -> None:
    token = server.new_user_token(f"dev-{unique_path()}")
    body = tool_hook_body(unique_path(), "shell", "execute", {"command": "id"})
    with server.client(token) as client:
        response = client.post("/api/hooks", json=body)

    assert response.status_code == 400
    assert "admin" in response.json()["error"]


def test_placeholder_inside_quotes_is_rejected_with_400(server: ServerProcess) -> None:
    params = {"command": 'git commit -m "{{webhook.body.message}}"'}
    with server.client() as client:
        response = client.post(
            "/api/hooks", json=tool_hook_body(unique_path(), "shell", "execute", params)
        )

    assert response.status_code == 400
    assert "double quotes" in response.json()["error"]


def test_http_tool_refuses_loopback_by_default(server: ServerProcess) -> None:
    params = {"method": "GET", "url": f"{server.url}/api/health"}

    execution = run_tool(server, "http", "request", params, {})

    assert execution["status"] == "error"
    assert "OCTIPUS_FORWARD_ALLOW_HOSTS" in execution["error"]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


def test_http_tool_sends_the_templated_request(
    server_factory: Callable[..., ServerProcess], receiver: Receiver
) -> None:
    server = server_factory(env={"OCTIPUS_FORWARD_ALLOW_HOSTS": "127.0.0.1"})
    params = {
        "method": "post",
        "url": f"{receiver.url}/builds/{{{{webhook.body.ref}}}}",
        "headers": {"X-Commit": "{{webhook.body.after}}"},
        "body": {"repo": "{{webhook.body.repository.full_name}}"},
    }
    payload = {"ref": "main", "after": "abc123", "repository": {"full_name": "o/r"}}

    execution = run_tool(server, "http", "request", params, payload)

    assert execution["status"] == "success", execution
    assert execution["result"]["status"] == 200
    [request] = receiver.requests("/builds/main")
    assert request.method == "POST"
    assert request.headers["x-commit"] == "abc123"
    assert json.loads(request.body) == {"repo": "o/r"}


def test_shell_switched_off_rejects_shell_hooks(
    server_factory: Callable[..., ServerProcess],
) -> None:
    server = server_factory(env={"OCTIPUS_TOOLS_SHELL": "off"})
    body = tool_hook_body(unique_path(), "shell", "execute", {"command": "id"})
    with server.client() as client:
        response = client.post("/api/hooks", json=body)

    assert response.status_code == 400
    assert "OCTIPUS_TOOLS_SHELL=off" in response.json()["error"]


def test_seed_execute_tool_hook_body_is_accepted(server: ServerProcess) -> None:
    seed_params = {"command": "cd /app && git pull origin main"}
    with server.client() as client:
        response = client.post(
            "/api/hooks", json=tool_hook_body(unique_path(), "shell", "execute", seed_params)
        )

    assert response.status_code == 201, response.text
    assert response.json()["hook"]["actionConfig"]["toolParams"] == seed_params

"""execute_tool through the real server: shell and http tools, save-time checks, policies."""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
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


def create_tool_hook(
    client: httpx.Client, tool: str, action: str, params: dict[str, Any]
) -> tuple[str, dict[str, Any]]:
    path = unique_path("tool")
    config = {"toolId": tool, "toolAction": action, "toolParams": params}
    return path, make_hook(client, path, SECRET, action="execute_tool", actionConfig=config)


def deliver(server: ServerProcess, path: str, payload: dict[str, Any]) -> None:
    body = json.dumps(payload).encode()
    assert send_github(server.url, path, body, SECRET, "push").status_code == 202


def run_tool(
    server: ServerProcess, tool: str, action: str, params: dict[str, Any], payload: dict[str, Any]
) -> dict[str, Any]:
    """Create the hook, deliver `payload` to it, return the finished execution."""
    with server.client() as client:
        path, hook = create_tool_hook(client, tool, action, params)
        deliver(server, path, payload)
        return finished_executions(client, hook["id"])[0]


# What ran as commands before (issue 15): each must stay data, whatever the command does with it.
FINDING_PAYLOADS = ["$(touch {m})", "`touch {m}`", "a[$(touch {m})]", "$(touch {m}) #"]
ARITHMETIC = "echo $(( $X ))"
PRINTED_FORMS = {
    "args": {"args": ["printf", "%s", "{{webhook.body.x}}"]},
    "env": {"command": 'printf %s "$X"', "env": {"X": "{{webhook.body.x}}"}},
    "env, unquoted": {"command": "printf '%s|' $X", "env": {"X": "{{webhook.body.x}}"}},
}
ARITHMETIC_FORMS = {
    "args": {"args": ["sh", "-c", ARITHMETIC.replace("$X", "$1"), "sh", "{{webhook.body.x}}"]},
    "env": {"command": ARITHMETIC, "env": {"X": "{{webhook.body.x}}"}},
}
SH_IS_BASH = Path(shutil.which("sh") or "/bin/sh").resolve().name == "bash"


def deliver_each_payload(
    server: ServerProcess, params: dict[str, Any], marker: Path
) -> tuple[list[str], list[dict[str, Any]]]:
    """One hook with `params`, each finding payload delivered to it: payloads, executions."""
    payloads = [template.format(m=marker) for template in FINDING_PAYLOADS]
    with server.client() as client:
        path, hook = create_tool_hook(client, "shell", "execute", params)
        for payload in payloads:
            deliver(server, path, {"x": payload})
        return payloads, finished_executions(client, hook["id"], count=len(payloads))


@pytest.mark.parametrize("form", sorted(PRINTED_FORMS))
def test_finding_payloads_are_printed_never_run(
    server: ServerProcess, tmp_path: Path, form: str
) -> None:
    marker = tmp_path / "pwned"

    payloads, executions = deliver_each_payload(server, PRINTED_FORMS[form], marker)

    assert [e["status"] for e in executions] == ["success"] * len(payloads), executions
    printed = sorted(e["result"]["stdout"] for e in executions)
    if form == "env, unquoted":  # split into words and printed, never re-parsed
        printed = sorted(p.replace("|", " ").strip() for p in printed)
    assert printed == sorted(payloads)
    assert not marker.exists()


@pytest.mark.skipif(SH_IS_BASH, reason="bash evaluates a[$(cmd)] in arithmetic (documented)")
@pytest.mark.parametrize("form", sorted(ARITHMETIC_FORMS))
def test_finding_payloads_in_shell_arithmetic_are_not_run(
    server: ServerProcess, tmp_path: Path, form: str
) -> None:
    marker = tmp_path / "pwned"

    _, executions = deliver_each_payload(server, ARITHMETIC_FORMS[form], marker)

    for execution in executions:  # the shell refuses the text as an expression
        assert execution["status"] == "error", execution
        assert execution["result"]["exitCode"] != 0
    assert not marker.exists()


@pytest.mark.parametrize("command", ["echo $(( {{webhook.body.x}} ))", "echo \\{{webhook.body.x}}"])
def test_placeholder_in_command_is_rejected_with_400_saying_how(
    server: ServerProcess, command: str
) -> None:
    body = tool_hook_body(unique_path(), "shell", "execute", {"command": command})
    with server.client() as client:
        response = client.post("/api/hooks", json=body)

    assert response.status_code == 400
    error = response.json()["error"]
    assert "toolParams" in error and '"$REF"' in error and '"args"' in error


def test_stored_command_with_a_placeholder_fails_without_running(
    server: ServerProcess, tmp_path: Path
) -> None:
    marker = tmp_path / "pwned"
    with server.client() as client:
        path, hook = create_tool_hook(client, "shell", "execute", {"command": "true"})
    legacy = {
        "toolId": "shell",
        "toolAction": "execute",
        "toolParams": {"command": "echo {{webhook.body.x}}"},
    }
    with sqlite3.connect(server.data_dir / "octipus.db") as db:  # as stored before the rule
        db.execute(
            "UPDATE hooks SET action_config = ? WHERE id = ?", (json.dumps(legacy), hook["id"])
        )

    deliver(server, path, {"x": f"$(touch {marker})"})
    with server.client() as client:
        [execution] = finished_executions(client, hook["id"])

    assert execution["status"] == "error"
    assert execution["attempts"] == 1
    assert "would be parsed by the shell" in execution["error"]
    assert not marker.exists()


def test_shell_failure_is_an_error_with_the_output(server: ServerProcess) -> None:
    params = {
        "command": 'echo building "$REF"; echo broke >&2; exit 2',
        "env": {"REF": "{{webhook.body.ref}}"},
    }

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

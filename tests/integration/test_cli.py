"""The `octipus` command against a real server."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

from octipus.actions.agent import NO_CHANNEL_WARNING
from tests.support.hooks import make_hook, unique_path
from tests.support.server import ServerProcess
from tests.support.signing import FIXTURES


def test_users_create_prints_a_working_token(server: ServerProcess):
    token = server.new_user_token("carol")
    with server.client(token=token) as c:
        assert c.get("/api/hooks").status_code == 200


def test_tokens_create_for_a_missing_user_fails_clearly(server: ServerProcess):
    done = server.cli("tokens", "create", "nobody-here", check=False)
    assert done.returncode == 1
    assert "no user named 'nobody-here'" in done.stderr


def test_send_signs_and_posts_a_fixture(server: ServerProcess):
    path = unique_path()
    with server.client() as c:
        make_hook(c, path, secret="cli-secret-1")
    done = server.cli(
        "send",
        path,
        "--secret",
        "cli-secret-1",
        "--data",
        f"@{FIXTURES / 'github' / 'push.payload.json'}",
        "--event",
        "push",
    )
    assert done.stdout.startswith("202 ")
    assert json.loads(done.stdout.split("\n", 1)[1])["accepted"] is True
    as_json = server.cli("send", path, "--secret", "cli-secret-1", "--json")
    assert json.loads(as_json.stdout)["accepted"] is True


def test_send_with_the_wrong_secret_exits_nonzero_and_shows_why(server: ServerProcess):
    path = unique_path()
    with server.client() as c:
        make_hook(c, path, secret="cli-secret-1")
    done = server.cli("send", path, "--secret", "wrong", "--data", "{}", check=False)
    assert done.returncode == 1
    assert "signature mismatch" in done.stderr


def test_hooks_apply_creates_then_updates_by_name(server: ServerProcess, tmp_path: Path):
    path = unique_path()
    spec = tmp_path / "hooks.yaml"
    spec.write_text(
        "hooks:\n"
        f"  - name: gitops-{path}\n"
        f"    triggerConfig: {{webhookPath: {path}, webhookSecret: apply-secret}}\n"
        "    action: notify\n"
        "    actionConfig: {notifyOwner: true}\n"
    )
    first = json.loads(server.cli("hooks", "apply", "-f", str(spec), "--json").stdout)
    assert [r["change"] for r in first] == ["created"]
    spec.write_text(
        spec.read_text().replace("notifyOwner: true", "notifyOwner: true, notifyMessage: hi")
    )
    second = json.loads(server.cli("hooks", "apply", "-f", str(spec), "--json").stdout)
    assert second == [{**first[0], "change": "updated"}]
    hooks = json.loads(server.cli("hooks", "list", "--json").stdout)
    [hook] = [h for h in hooks if h["name"] == f"gitops-{path}"]
    assert hook["actionConfig"]["notifyMessage"] == "hi"


def test_hooks_apply_reports_the_servers_validation_error(server: ServerProcess, tmp_path: Path):
    spec = tmp_path / "bad.yaml"
    spec.write_text("- name: bad\n  triggerConfig: {webhookPath: '../x'}\n  action: notify\n")
    done = server.cli("hooks", "apply", "-f", str(spec), check=False)
    assert done.returncode == 1
    assert "webhookPath" in done.stderr


def test_first_start_writes_the_admin_token_file_with_mode_0600(server_factory):
    env = {"OCTIPUS_BOOTSTRAP_TOKEN": ""}
    server = server_factory(env=env)
    token_file = server.data_dir / "admin-token"
    assert stat.S_IMODE(os.stat(token_file).st_mode) == 0o600
    token = token_file.read_text().strip()
    assert token in server.logs()
    with server.client(token=token) as c:
        assert c.get("/api/hooks").status_code == 200


def test_hooks_show_test_and_delete_find_a_hook_by_name_or_id(server: ServerProcess):
    path = unique_path()
    with server.client() as c:
        hook = make_hook(
            c,
            path,
            secret="cli-secret-2",
            name=f"by-name-{path}",
            action="spawn_agent",
            actionConfig={"agentPrompt": "Summarise.", "notifyOwner": True},
        )

    shown = json.loads(server.cli("hooks", "show", "--hook", hook["name"], "--json").stdout)
    assert shown["id"] == hook["id"]
    assert shown["triggerConfig"]["webhookSecret"] != "cli-secret-2"  # masked
    assert f"name: {hook['name']}" in server.cli("hooks", "show", "--hook", hook["id"]).stdout

    tested = server.cli("hooks", "test", "--hook", hook["name"], "-d", '{"n": 1}', "--json")
    execution = json.loads(tested.stdout)
    assert execution["status"] == "success" and execution["source"] == "manual_test"
    assert execution["result"]["warnings"] == [NO_CHANNEL_WARNING]
    listed = server.cli("executions", "list", "--hook", hook["name"], "--json").stdout
    assert [e["id"] for e in json.loads(listed)["executions"]] == [execution["id"]]
    human = server.cli("hooks", "test", "--hook", hook["name"]).stdout
    assert human.startswith("success ") and f"warning: {NO_CHANNEL_WARNING}" in human

    deleted = json.loads(server.cli("hooks", "delete", "--hook", hook["id"], "--json").stdout)
    assert deleted == {"name": hook["name"], "id": hook["id"], "change": "deleted"}
    with server.client() as c:
        assert c.get(f"/api/hooks/{hook['id']}").status_code == 404

"""The web UI in a real browser against a real server (DESIGN §3, §6)."""

from __future__ import annotations

import re
import sqlite3
import time
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.support.hooks import make_hook, send_github, unique_path
from tests.support.server import ServerProcess
from tests.support.signing import fixture_bytes

pytestmark = pytest.mark.e2e


def sign_in(page: Page, server: ServerProcess, next_path: str = "/ui/hooks") -> None:
    """Go to `next_path`, get sent to the sign-in page, paste the admin token, come back."""
    page.goto(server.url + next_path)
    expect(page).to_have_url(re.compile(r"/ui/login\?next="))
    page.get_by_label("API token").fill(server.token)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(server.url + next_path)


def api_hook(server: ServerProcess, hook_id: str) -> httpx.Response:
    with server.client() as client:
        return client.get(f"/api/hooks/{hook_id}")


def wait_for(predicate: Any, what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def test_sign_in_with_admin_token_opens_hooks_page(page: Page, server: ServerProcess) -> None:
    page.goto(server.url + "/")
    expect(page).to_have_url(re.compile(r"/ui/login\?next=%2Fui%2Fhooks$"))
    page.get_by_label("API token").fill(server.token)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(server.url + "/ui/hooks")
    expect(page.get_by_role("heading", name="Hooks")).to_be_visible()
    assert page.evaluate("localStorage.getItem('octipus.token')") == server.token


def test_wrong_token_shows_server_error(page: Page, server: ServerProcess) -> None:
    page.goto(server.url + "/ui/login")
    page.get_by_label("API token").fill("not-a-token")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text("Invalid or revoked token")
    expect(page).to_have_url(server.url + "/ui/login")


def test_sign_out_forgets_token(page: Page, server: ServerProcess) -> None:
    sign_in(page, server)
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(server.url + "/ui/login")
    assert page.evaluate("localStorage.getItem('octipus.token')") is None
    page.goto(server.url + "/ui/executions")
    expect(page).to_have_url(re.compile(r"/ui/login\?next=%2Fui%2Fexecutions$"))


def test_create_hook_through_form_lists_it_with_webhook_url(
    page: Page, server: ServerProcess
) -> None:
    path, name = unique_path("ui"), f"Form hook {unique_path()}"
    sign_in(page, server, "/ui/hooks/new")
    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_label("Path", exact=True).fill(path)
    page.get_by_role("button", name="Generate").click()
    secret = page.get_by_label("Secret", exact=True).input_value()
    assert re.fullmatch(r"[0-9a-f]{40}", secret)
    page.get_by_label("Events").fill("push, ping")
    page.get_by_label("Message").fill("Push to {{webhook.body.repository.full_name}}")
    page.get_by_role("button", name="Save hook").click()

    expect(page).to_have_url(server.url + "/ui/hooks")
    row = page.get_by_role("row").filter(has_text=name)
    expect(row).to_contain_text(f"{server.url}/api/webhooks/{path}")
    with server.client() as client:
        hooks = client.get("/api/hooks").json()["hooks"]
    hook = next(h for h in hooks if h["name"] == name)
    assert hook["triggerConfig"]["webhookSecret"].startswith(f"••••{secret[-4:]}#")
    assert hook["triggerConfig"]["events"] == ["push", "ping"]
    assert hook["action"] == "notify"
    assert hook["actionConfig"]["notifyMessage"] == "Push to {{webhook.body.repository.full_name}}"
    assert hook["actionConfig"]["notifyOwner"] is True


def test_agent_fields_and_conditions_are_saved(page: Page, server: ServerProcess) -> None:
    name = f"Agent hook {unique_path()}"
    sign_in(page, server, "/ui/hooks/new")
    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_label("Path", exact=True).fill(unique_path("ui"))
    page.get_by_label("Secret", exact=True).fill("agent-secret-1234")
    page.get_by_label("Action type").select_option("spawn_agent")
    page.get_by_label("Prompt").fill("Summarise this event.")
    page.get_by_label("Topic").fill("devops")
    page.get_by_role("button", name="Add condition").click()
    page.get_by_label("Field", exact=True).fill("webhook.body.action")
    page.get_by_label("Operator", exact=True).select_option("in")
    page.get_by_label("Value", exact=True).fill('["opened", "reopened"]')
    page.get_by_role("button", name="Save hook").click()
    expect(page).to_have_url(server.url + "/ui/hooks")

    with server.client() as client:
        hook = next(h for h in client.get("/api/hooks").json()["hooks"] if h["name"] == name)
    assert hook["action"] == "spawn_agent"
    assert hook["actionConfig"]["agentPrompt"] == "Summarise this event."
    assert hook["actionConfig"]["agentTopic"] == "devops"
    assert hook["actionConfig"]["orchestrated"] is False
    assert hook["actionConfig"]["notifyOwner"] is True
    assert hook["conditions"] == [
        {"field": "webhook.body.action", "operator": "in", "value": ["opened", "reopened"]}
    ]


def test_edit_form_keeps_stored_secret_when_left_empty(page: Page, server: ServerProcess) -> None:
    with server.client() as client:
        hook = make_hook(client, unique_path("ui"), secret="keep-this-secret-9876")
    sign_in(page, server, f"/ui/hooks/{hook['id']}")
    expect(page.get_by_label("Name", exact=True)).to_have_value(hook["name"])
    page.get_by_label("Name", exact=True).fill("Renamed hook")
    page.get_by_role("button", name="Save hook").click()
    expect(page).to_have_url(server.url + "/ui/hooks")

    body = fixture_bytes("github", "ping")
    assert (
        send_github(
            server.url,
            hook["triggerConfig"]["webhookPath"],
            body,
            "keep-this-secret-9876",
            event="ping",
        ).status_code
        == 202
    )
    assert api_hook(server, hook["id"]).json()["hook"]["name"] == "Renamed hook"


def test_edit_form_never_sends_a_mask_and_keeps_every_secret(
    page: Page, server: ServerProcess
) -> None:
    rotation = ["rotation-one-value-9999", "rotation-two-value-9999"]
    with server.client() as client:
        hook = make_hook(
            client,
            unique_path("ui"),
            secret="primary-secret-value-9999",
            triggerConfig={"webhookSecrets": rotation},
            action="webhook",
            actionConfig={"webhookUrl": "https://example.com/h", "signingSecret": "sign-key-5678"},
        )
    sent: list[str] = []
    page.on("request", lambda r: sent.append(r.post_data or "") if r.method == "PATCH" else None)
    sign_in(page, server, f"/ui/hooks/{hook['id']}")
    expect(page.get_by_label("Name", exact=True)).to_have_value(hook["name"])
    expect(page.locator("#signingSecret")).to_have_value("")
    page.get_by_label("Name", exact=True).fill("Renamed with secrets")
    page.get_by_role("button", name="Save hook").click()
    expect(page).to_have_url(server.url + "/ui/hooks")

    [body] = sent
    assert "••••" not in body
    shown = api_hook(server, hook["id"]).json()["hook"]
    assert shown["triggerConfig"]["webhookSecrets"] == hook["triggerConfig"]["webhookSecrets"]
    assert shown["actionConfig"]["signingSecret"] == hook["actionConfig"]["signingSecret"]
    path = hook["triggerConfig"]["webhookPath"]
    for secret in rotation:
        assert send_github(server.url, path, b"{}", secret, event="ping").status_code == 202


def test_invalid_path_shows_server_error(page: Page, server: ServerProcess) -> None:
    with server.client() as client:
        expected = client.post(
            "/api/hooks",
            json={"name": "bad", "triggerConfig": {"webhookPath": "a/../b"}, "action": "notify"},
        ).json()["error"]
    sign_in(page, server, "/ui/hooks/new")
    page.get_by_label("Name", exact=True).fill("bad")
    page.get_by_label("Path", exact=True).fill("a/../b")
    page.get_by_role("button", name="Save hook").click()
    expect(page.get_by_role("alert")).to_have_text(expected)
    expect(page).to_have_url(server.url + "/ui/hooks/new")


def test_toggle_disables_hook(page: Page, server: ServerProcess) -> None:
    with server.client() as client:
        hook = make_hook(client, unique_path("ui"))
    sign_in(page, server)
    switch = page.get_by_role("switch", name=f"Enabled: {hook['name']}")
    expect(switch).to_be_checked()
    switch.click()
    wait_for(
        lambda: api_hook(server, hook["id"]).json()["hook"]["isEnabled"] is False,
        "the hook to be disabled",
    )
    expect(switch).not_to_be_checked()


def test_delete_asks_then_removes_hook(page: Page, server: ServerProcess) -> None:
    with server.client() as client:
        hook = make_hook(client, unique_path("ui"))
    sign_in(page, server)
    questions: list[str] = []
    page.once("dialog", lambda dialog: (questions.append(dialog.message), dialog.accept()))
    page.get_by_role("button", name=f"Delete {hook['name']}").click()
    expect(page.get_by_role("row").filter(has_text=hook["name"])).to_have_count(0)
    assert questions and hook["name"] in questions[0]
    assert api_hook(server, hook["id"]).status_code == 404


def test_signed_delivery_shows_in_execution_log_with_details(
    page: Page, server: ServerProcess
) -> None:
    path = unique_path("ui")
    with server.client() as client:
        hook = make_hook(client, path, secret="log-secret-5555")
    body = fixture_bytes("github", "ping")
    assert send_github(server.url, path, body, "log-secret-5555", event="ping").status_code == 202

    sign_in(page, server, f"/ui/hooks/{hook['id']}/executions")
    expect(page.get_by_role("heading", name=f"Execution Log: {hook['name']}")).to_be_visible()
    entry = page.locator("details.execution").first
    expect(entry.locator(".badge").first).to_have_text("success")
    entry.locator("summary").click()
    expect(entry.locator("pre").first).to_contain_text('"ping": true')
    expect(entry).to_contain_text("Trigger context")
    expect(entry).to_contain_text("ping")


def test_execution_log_filters_by_status(page: Page, server: ServerProcess) -> None:
    path = unique_path("ui")
    with server.client() as client:
        hook = make_hook(client, path, secret="filter-secret-1", triggerConfig={"events": ["x"]})
    body = fixture_bytes("github", "push")
    assert send_github(server.url, path, body, "filter-secret-1", event="push").status_code == 202

    sign_in(page, server, f"/ui/hooks/{hook['id']}/executions")
    expect(page.locator("details.execution .badge").first).to_have_text("skipped")
    page.get_by_label("Status").select_option("error")
    expect(page.locator("details.execution")).to_have_count(0)
    expect(page.get_by_text("No executions yet")).to_be_visible()
    page.get_by_label("Status").select_option("skipped")
    expect(page.locator("details.execution")).to_have_count(1)


def test_rejections_view_shows_401_reason(page: Page, server: ServerProcess) -> None:
    path = unique_path("ui")
    with server.client() as client:
        make_hook(client, path, secret="right-secret")
    refused = send_github(server.url, path, b'{"zen": "x"}', "wrong-secret")
    assert refused.status_code == 401

    sign_in(page, server, f"/ui/rejections?path={path}")
    row = page.get_by_role("row").filter(has_text=path)
    expect(row).to_contain_text("401")
    expect(row).to_contain_text(refused.json()["error"])


def test_channels_redeem_unknown_code_shows_server_answer(
    page: Page, server: ServerProcess
) -> None:
    sign_in(page, server, "/ui/settings/channels")
    page.get_by_label("Code", exact=True).fill("ZZZ999")
    page.get_by_role("button", name="Link", exact=True).click()
    with server.client() as client:
        answer = client.post("/api/auth/channel-bindings/redeem", json={"code": "ZZZ999"})
    assert 400 <= answer.status_code < 500
    expect(page.locator("#redeem-result")).to_have_text(answer.json()["error"])


def test_replay_button_queues_the_delivery_again(page: Page, server: ServerProcess) -> None:
    path = unique_path("ui")
    with server.client() as client:
        hook = make_hook(client, path, secret="replay-secret-1")
    body = fixture_bytes("github", "ping")
    assert send_github(server.url, path, body, "replay-secret-1", event="ping").status_code == 202

    sign_in(page, server, f"/ui/hooks/{hook['id']}/executions")
    entry = page.locator("details.execution").first
    entry.locator("summary").click()
    entry.get_by_role("button", name="Replay").click()
    expect(page.get_by_role("alert")).to_contain_text("Replay queued as execution")
    expect(page.locator("details.execution")).to_have_count(2)
    expect(page.locator("details.execution").first.locator(".badge.source")).to_have_text("replay")


def test_send_test_runs_the_action_and_shows_its_result(page: Page, server: ServerProcess) -> None:
    with server.client() as client:
        hook = make_hook(
            client,
            unique_path("ui"),
            action="execute_tool",
            actionConfig={
                "toolId": "shell",
                "toolAction": "execute",
                "toolParams": {"args": ["echo", "hello", "{{webhook.body.who}}"]},
            },
        )
    sign_in(page, server)
    page.get_by_role("row").filter(has_text=hook["name"]).get_by_role(
        "button", name="Send test"
    ).click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Payload (JSON)").fill('{"who": "octipus-ui"}')
    dialog.get_by_role("button", name="Send", exact=True).click()
    expect(dialog.locator(".badge")).to_have_text("success")
    expect(dialog.locator("#test-results")).to_contain_text("hello octipus-ui")


def test_channels_page_issues_a_link_code_to_send_to_the_bot(
    page: Page, server: ServerProcess
) -> None:
    sign_in(page, server, "/ui/settings/channels")
    expect(page.get_by_text("No channels linked yet.")).to_be_visible()
    page.get_by_role("button", name="Get a link code").click()
    expect(page.locator("#issued-command")).to_have_text(re.compile(r"^/link [A-Z0-9]{6}$"))


def test_bad_apprise_url_shows_server_error(page: Page, server: ServerProcess) -> None:
    sign_in(page, server, "/ui/settings/channels")
    page.get_by_label("Apprise URL", exact=True).fill("not a destination")
    page.get_by_role("button", name="Add and send code").click()
    with server.client() as client:
        answer = client.post(
            "/api/auth/channel-bindings/apprise", json={"url": "not a destination"}
        )
    assert answer.status_code == 400
    expect(page.locator("#apprise-result")).to_have_text(answer.json()["error"])


def test_edit_form_sets_and_clears_a_hooks_concurrency(page: Page, server: ServerProcess) -> None:
    with server.client() as client:
        hook = make_hook(client, unique_path("ui"), concurrency=3)
    sign_in(page, server, f"/ui/hooks/{hook['id']}")
    for shown, typed, stored in (("3", "5", 5), ("5", "", None)):
        page.goto(f"{server.url}/ui/hooks/{hook['id']}")
        expect(page.get_by_label("Concurrency")).to_have_value(shown)
        page.get_by_label("Concurrency").fill(typed)
        page.get_by_role("button", name="Save hook").click()
        expect(page).to_have_url(server.url + "/ui/hooks")
        assert api_hook(server, hook["id"]).json()["hook"]["concurrency"] == stored


def test_a_new_delivery_appears_live_in_a_filtered_log(page: Page, server: ServerProcess) -> None:
    path = unique_path("ui")
    with server.client() as client:
        hook = make_hook(client, path, secret="live-secret-1", triggerConfig={"events": ["x"]})
    sign_in(page, server, f"/ui/hooks/{hook['id']}/executions?status=skipped")
    expect(page.get_by_text("No executions yet")).to_be_visible()

    body = fixture_bytes("github", "push")  # skipped: the hook listens to "x" only
    assert send_github(server.url, path, body, "live-secret-1", event="push").status_code == 202

    expect(page.locator("details.execution")).to_have_count(1)  # no reload
    expect(page.locator("details.execution .badge").first).to_have_text("skipped")
    expect(page.get_by_label("Status")).to_have_value("skipped")


def test_a_paused_hook_shows_why_and_resumes_in_one_click(
    page: Page, server: ServerProcess
) -> None:
    with server.client() as client:
        hook = make_hook(client, unique_path("ui"), autoPauseAfter=3)
    with sqlite3.connect(server.data_dir / "octipus.db") as db:  # as alerts.py pauses it
        db.execute(
            "UPDATE hooks SET is_enabled = 0, paused_reason = '3 failed attempts in a row', "
            "paused_at = '2026-01-01 00:00:00.000000' WHERE id = ?",
            (hook["id"],),
        )

    sign_in(page, server, f"/ui/hooks/{hook['id']}")
    expect(page.locator("#paused-note")).to_contain_text("Paused: 3 failed attempts in a row")
    expect(page.get_by_label("Pause after failures in a row")).to_have_value("3")

    page.goto(f"{server.url}/ui/hooks")
    row = page.get_by_role("row").filter(has_text=hook["name"])
    expect(row).to_contain_text("Paused: 3 failed attempts in a row")
    row.get_by_role("button", name=f"Resume {hook['name']}").click()

    expect(page.get_by_role("alert")).to_contain_text(f'Resumed "{hook["name"]}"')
    expect(row.get_by_role("switch")).to_be_checked()
    assert api_hook(server, hook["id"]).json()["hook"]["pausedReason"] is None


def test_tokens_page_lists_tokens_and_revokes_one(page: Page, server: ServerProcess) -> None:
    spare = server.cli("tokens", "create", "admin", "--name", "ui-spare").stdout.strip()
    sign_in(page, server, "/ui/settings/tokens")
    row = page.get_by_role("row").filter(has_text="ui-spare")
    expect(row).to_contain_text(f"{spare[:8]}…")
    expect(page.locator("main")).not_to_contain_text(spare)
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Revoke token ui-spare").click()
    expect(page.get_by_text('Revoked "ui-spare".')).to_be_visible()
    expect(row).to_have_count(0)
    with server.client(token=spare) as client:
        assert client.get("/api/hooks").status_code == 401

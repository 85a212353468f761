"""Hooks API and auth matrix through a real server (DESIGN §3.3, §3.5)."""

from __future__ import annotations

import re

import httpx
import pytest

from tests.support.hooks import make_hook, unique_path
from tests.support.server import ServerProcess

SEED_BODY = {
    "name": "GitHub Notifications",
    "trigger": "webhook",
    "triggerConfig": {"webhookPath": "github", "webhookSecret": "<your-secret>"},
    "action": "spawn_agent",
    "actionConfig": {
        "agentPrompt": (
            "A GitHub webhook event was received. "
            "Analyze the payload and produce a concise summary."
        ),
        "agentTopic": "communication",
        "orchestrated": False,
        "notifyOwner": True,
    },
}


@pytest.fixture(scope="module")
def bob(server: ServerProcess) -> str:
    return server.new_user_token("bob")


def test_the_seeds_create_hook_body_works(server: ServerProcess):
    with server.client() as c:
        response = c.post("/api/hooks", json=SEED_BODY)
    assert response.status_code == 201, response.text
    hook = response.json()["hook"]
    assert hook["name"] == "GitHub Notifications"
    assert hook["triggerConfig"]["webhookPath"] == "github"
    assert hook["isEnabled"] is True and hook["executionCount"] == 0
    assert hook["actionConfig"]["agentTopic"] == "communication"


def test_secrets_are_masked_in_every_response(server: ServerProcess):
    with server.client() as c:
        hook = make_hook(
            c,
            unique_path(),
            secret="abcdefgh-very-secret-1234",
            triggerConfig={"webhookSecrets": ["old-secret-value-9876"]},
        )
        listed = c.get("/api/hooks").text
        fetched = c.get(f"/api/hooks/{hook['id']}").text
    assert re.fullmatch(r"••••1234#[0-9a-f]{16}", hook["triggerConfig"]["webhookSecret"])
    [extra] = hook["triggerConfig"]["webhookSecrets"]
    assert re.fullmatch(r"••••9876#[0-9a-f]{16}", extra)
    for text in (listed, fetched):
        assert "very-secret" not in text and "old-secret" not in text


def test_patch_keeps_the_secret_when_the_masked_value_is_sent_back(server: ServerProcess):
    path = unique_path()
    with server.client() as c:
        hook = make_hook(c, path, secret="keep-this-secret")
        config = {**hook["triggerConfig"], "events": ["push"]}
        patched = c.patch(
            f"/api/hooks/{hook['id']}", json={"triggerConfig": config, "name": "renamed"}
        )
    assert patched.status_code == 200, patched.text
    assert patched.json()["hook"]["name"] == "renamed"
    assert patched.json()["hook"]["triggerConfig"]["events"] == ["push"]
    from tests.support.hooks import send_github

    assert send_github(server.url, path, b"{}", "keep-this-secret").status_code == 202


@pytest.mark.parametrize(
    "change,field",
    [
        ({"triggerConfig": {"webhookPath": "../etc"}}, "webhookPath"),
        ({"triggerConfig": {"webhookPath": "a//b"}}, "webhookPath"),
        ({"triggerConfig": {}}, "webhookPath"),
        ({"action": "explode"}, "action"),
        ({"conditions": [{"field": "webhook.body.x", "operator": "likes"}]}, "operator"),
        (
            {"conditions": [{"field": "webhook.body.x", "operator": "matches", "value": "("}]},
            "regex",
        ),
        ({"cooldownMs": -1}, "cooldownMs"),
        ({"unknownField": 1}, "unknownField"),
        ({"triggerConfig": {"webhookPath": "ok", "provider": "carrier-pigeon"}}, "provider"),
    ],
)
def test_invalid_hook_input_is_refused_naming_the_field(server: ServerProcess, change, field):
    body = {
        **SEED_BODY,
        "triggerConfig": {"webhookPath": unique_path(), "webhookSecret": "x"},
        **change,
    }
    with server.client() as c:
        response = c.post("/api/hooks", json=body)
    assert response.status_code in (400, 422), response.text
    assert field in response.json()["error"]


def test_delete_removes_the_hook(server: ServerProcess):
    with server.client() as c:
        hook = make_hook(c, unique_path())
        assert c.delete(f"/api/hooks/{hook['id']}").json() == {"deleted": True}
        assert c.get(f"/api/hooks/{hook['id']}").status_code == 404


def test_no_token_is_401_with_a_hint(server: ServerProcess):
    response = httpx.get(f"{server.url}/api/hooks")
    assert response.status_code == 401
    assert "Bearer" in response.json()["error"]
    assert (
        httpx.get(f"{server.url}/api/hooks", headers={"Authorization": "Bearer nope"}).status_code
        == 401
    )


def test_another_users_hook_is_404(server: ServerProcess, bob: str):
    with server.client() as admin:
        admins_hook = make_hook(admin, unique_path())
    with server.client(token=bob) as c:
        assert c.get(f"/api/hooks/{admins_hook['id']}").status_code == 404
        assert c.patch(f"/api/hooks/{admins_hook['id']}", json={"name": "mine"}).status_code == 404
        assert c.delete(f"/api/hooks/{admins_hook['id']}").status_code == 404
        assert admins_hook["id"] not in [h["id"] for h in c.get("/api/hooks").json()["hooks"]]


def test_admin_sees_every_users_hooks(server: ServerProcess, bob: str):
    with server.client(token=bob) as c:
        bobs_hook = make_hook(c, unique_path())
    with server.client() as admin:
        assert admin.get(f"/api/hooks/{bobs_hook['id']}").status_code == 200
        assert bobs_hook["id"] in [h["id"] for h in admin.get("/api/hooks").json()["hooks"]]


def test_forward_signing_secret_is_masked_and_kept_on_patch(server: ServerProcess):
    config = {"webhookUrl": "https://example.com/hook", "signingSecret": "forward-signing-key-5678"}
    with server.client() as c:
        hook = make_hook(c, unique_path(), action="webhook", actionConfig=config)
        assert hook["actionConfig"]["signingSecret"].startswith("••••5678#")
        shown = {**hook["actionConfig"], "webhookMethod": "PUT"}
        patched = c.patch(f"/api/hooks/{hook['id']}", json={"actionConfig": shown}).json()["hook"]
    assert patched["actionConfig"] == shown
    assert "forward-signing-key" not in str(patched)

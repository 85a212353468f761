"""API tokens: listed without the token, revoked by their owner (or an admin), and a revoked
token fails at once on every serving process."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx

from tests.support.server import ServerProcess


def tokens_of(server: ServerProcess, token: str, **params: str) -> httpx.Response:
    with server.client(token=token) as client:
        return client.get("/api/auth/tokens", params=params)


def test_a_user_lists_their_tokens_without_the_tokens(server: ServerProcess) -> None:
    token = server.new_user_token("dora")
    second = server.cli("tokens", "create", "dora", "--name", "laptop").stdout.strip()

    answer = tokens_of(server, token)

    assert answer.status_code == 200
    listed = answer.json()["tokens"]
    assert [(t["user"], t["name"]) for t in listed] == [("dora", "default"), ("dora", "laptop")]
    assert [t["prefix"] for t in listed] == [token[:8], second[:8]]
    assert token not in answer.text and second not in answer.text
    assert set(listed[0]) == {"id", "name", "user", "prefix", "createdAt"}


def test_only_admins_list_another_users_tokens(server: ServerProcess) -> None:
    token = server.new_user_token("eve")
    server.new_user_token("frank")

    refused = tokens_of(server, token, user="frank")
    assert refused.status_code == 403
    assert "Only admins" in refused.json()["error"]
    as_admin = tokens_of(server, server.token, user="frank")
    assert [t["user"] for t in as_admin.json()["tokens"]] == ["frank"]
    missing = tokens_of(server, server.token, user="nobody-at-all")
    assert missing.status_code == 404
    assert "no user named 'nobody-at-all'" in missing.json()["error"]


def test_a_user_cannot_revoke_another_users_token(server: ServerProcess) -> None:
    mallory = server.new_user_token("mallory")
    grace = server.new_user_token("grace")
    [grace_token] = tokens_of(server, grace).json()["tokens"]

    with server.client(token=mallory) as client:
        refused = client.delete(f"/api/auth/tokens/{grace_token['id']}")

    assert refused.status_code == 404
    with server.client(token=grace) as client:
        assert client.get("/api/hooks").status_code == 200


def test_a_revoked_token_fails_at_once_on_every_serving_process(
    server_factory: Callable[..., ServerProcess],
) -> None:
    # Two serving processes on one port: fresh connections land on either.
    server = server_factory(
        env={"OCTIPUS_HTTP_PROCESSES": "2", "OCTIPUS_INGRESS_WRITER": "process"}
    )
    token = server.new_user_token("heidi")
    for _ in range(6):
        with server.client(token=token) as client:
            assert client.get("/api/hooks").status_code == 200
    [entry] = tokens_of(server, token).json()["tokens"]

    revoked = server.cli("tokens", "revoke", entry["id"], "--json", "--token", token)

    assert json.loads(revoked.stdout) == {"revoked": True, "id": entry["id"]}
    for _ in range(12):
        with server.client(token=token) as client:
            answer = client.get("/api/hooks")
        assert answer.status_code == 401
        assert answer.json()["error"] == "Invalid or revoked token"


def test_an_admin_revokes_a_users_token_from_the_cli(server: ServerProcess) -> None:
    token = server.new_user_token("ivan")
    listed = json.loads(server.cli("tokens", "list", "--user", "ivan", "--json").stdout)

    server.cli("tokens", "revoke", listed[0]["id"])

    with server.client(token=token) as client:
        assert client.get("/api/hooks").status_code == 401
    lines = server.cli("tokens", "list").stdout.splitlines()
    assert lines and all("admin" in line for line in lines)


def test_users_list_shows_every_user_and_their_token_count(server: ServerProcess) -> None:
    server.new_user_token("judy", admin=True)
    server.cli("tokens", "create", "judy")

    users = {u["name"]: u for u in json.loads(server.cli("users", "list", "--json").stdout)}

    assert users["judy"]["isAdmin"] is True and users["judy"]["tokens"] == 2
    assert "judy" in server.cli("users", "list").stdout

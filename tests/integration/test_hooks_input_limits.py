"""Untrusted hook input through a real server: regexes, nesting, numbers, unknown fields.

Each test sends what a non-admin user (or a signed sender) could send and expects a 4xx naming
the field, or a read that still answers, and a server that keeps serving.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from typing import Any

import httpx
import pytest

from tests.support.hooks import make_hook, send_github, unique_path
from tests.support.server import ServerProcess
from tests.support.waiting import finished_executions

SECRET = "s3cret-value"
CUT = "nested too deep to show"


@pytest.fixture(scope="module")
def bob(server: ServerProcess) -> str:
    return server.new_user_token("bob-limits")


def nested(depth: int, leaf: Any = "x") -> Any:
    value = leaf
    for _ in range(depth):
        value = {"a": value}
    return value


def hook_body(**fields: Any) -> dict[str, Any]:
    return {
        "name": "limits",
        "triggerConfig": {"webhookPath": unique_path(), "webhookSecret": SECRET},
        "action": "notify",
        "actionConfig": {"notifyOwner": True},
        **fields,
    }


def refused(client: httpx.Client, body: dict[str, Any], *named: str) -> str:
    """POST the hook; assert a 4xx whose error names every one of `named`; return the error."""
    response = client.post("/api/hooks", json=body)
    assert response.status_code in (400, 422), response.text
    error = response.json()["error"]
    for text in named:
        assert text in error, error
    return error


# --- regexes: RE2, so no pattern can backtrack ---------------------------------------------


def test_a_backtracking_pattern_neither_blocks_the_server_nor_the_delivery(
    server: ServerProcess, bob: str
):
    path = unique_path()
    condition = {"field": "webhook.body.x", "operator": "matches", "value": "^(a+)+$"}
    with server.client(token=bob) as c:
        hook = make_hook(c, path, conditions=[condition])
    health: list[int] = []

    def poll_health() -> None:
        for _ in range(20):
            health.append(httpx.get(f"{server.url}/api/health", timeout=10).status_code)

    poller = threading.Thread(target=poll_health)
    poller.start()
    # 64 characters: a backtracking engine would take ~2^64 steps; RE2 takes 64.
    body = json.dumps({"x": "a" * 64 + "!"}).encode()
    sent = [send_github(server.url, path, body, SECRET) for _ in range(3)]
    poller.join(timeout=60)
    assert [r.status_code for r in sent] == [202, 202, 202]
    assert health == [200] * 20
    with server.client(token=bob) as c:
        runs = finished_executions(c, hook["id"], count=3, timeout=30)
    assert {r["status"] for r in runs} == {"skipped"}
    body = json.dumps({"x": "a" * 64}).encode()
    assert send_github(server.url, path, body, SECRET).status_code == 202
    with server.client(token=bob) as c:
        ran = finished_executions(c, hook["id"], statuses=("success", "error"))
    assert len(ran) == 1  # the matching value ran the action


@pytest.mark.parametrize(
    "pattern,named",
    [
        (r"(a)\1", "backreferences"),
        (r"foo(?=bar)", "lookaround"),
        (r"(?<!x)y", "lookaround"),
        ("a" * 1001, "longer than 1000"),
        (".{1000}x", "too complex"),
        ("(", "RE2"),
        (42, "regex string"),
    ],
)
def test_patterns_re2_cannot_run_are_refused_saying_why(
    server: ServerProcess, bob: str, pattern: Any, named: str
):
    condition = {"field": "webhook.body.x", "operator": "matches", "value": pattern}
    with server.client(token=bob) as c:
        refused(c, hook_body(conditions=[condition]), "conditions[0].value", named)


# --- nesting: refused at save time, and stored rows still readable -------------------------


def test_a_deeply_nested_action_config_is_refused_and_the_list_still_answers(
    server: ServerProcess, bob: str
):
    config = {"webhookUrl": "https://example.com/hook", "webhookBody": nested(500)}
    with server.client(token=bob) as c:
        refused(c, hook_body(action="webhook", actionConfig=config), "actionConfig", "64 levels")
        hook = make_hook(c, unique_path())
        patch = c.patch(f"/api/hooks/{hook['id']}", json={"actionConfig": nested(100)})
        assert patch.status_code == 400 and "actionConfig" in patch.json()["error"]
        refused(c, hook_body(conditions=[nested(100)]), "conditions")
        refused(c, hook_body(triggerConfig={"webhookPath": "p", "events": [nested(70)]}), "64")
        too_deep_to_parse = '{"name": "n", "actionConfig": ' + '{"a": ' * 5000 + "1" + "}" * 5001
        response = c.post(
            "/api/hooks", content=too_deep_to_parse, headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 400 and "nested too deeply" in response.json()["error"]
        assert c.get("/api/hooks").status_code == 200
    with server.client() as admin:
        assert admin.get("/api/hooks").status_code == 200


def _db(server: ServerProcess) -> sqlite3.Connection:
    return sqlite3.connect(server.data_dir / "octipus.db", timeout=30)


def test_hooks_stored_deep_or_with_huge_numbers_are_still_listed(server: ServerProcess, bob: str):
    """Rows saved before the limits (or by hand) must not make the hooks list answer 500."""
    with server.client(token=bob) as c:
        hook = make_hook(c, unique_path())
    with _db(server) as db:
        db.execute(
            "UPDATE hooks SET action_config = ?, conditions = ? WHERE id = ?",
            (
                json.dumps({"webhookBody": nested(500)}),
                json.dumps([{"field": "webhook.body.n", "operator": "equals", "value": 2**70}]),
                hook["id"],
            ),
        )
    for token in (bob, None):
        with server.client(token=token) as c:
            listed = c.get("/api/hooks")
            one = c.get(f"/api/hooks/{hook['id']}")
        assert listed.status_code == 200 and one.status_code == 200, one.text
        shown = one.json()["hook"]
        assert CUT in json.dumps(shown["actionConfig"])
        assert shown["conditions"][0]["value"] == str(2**70)


def test_stored_deliveries_nested_1000_deep_are_listed_shown_and_replayed(
    server: ServerProcess, bob: str
):
    path = unique_path()
    never = {"field": "webhook.body.never", "operator": "exists"}
    with server.client(token=bob) as c:
        hook = make_hook(c, path, conditions=[never])
    assert send_github(server.url, path, b'{"small": true}', SECRET).status_code == 202
    with server.client(token=bob) as c:
        [execution] = finished_executions(c, hook["id"])
    deep = b"[" * 1000 + b"]" * 1000
    with _db(server) as db:
        db.execute(
            "UPDATE deliveries SET body = ? WHERE id ="
            " (SELECT delivery_pk FROM executions WHERE id = ?)",
            (deep, execution["id"]),
        )
    with server.client(token=bob) as c:
        listed = c.get("/api/executions", params={"hookId": hook["id"]})
        per_hook = c.get(f"/api/hooks/{hook['id']}/executions")
        shown = c.get(f"/api/executions/{execution['id']}")
        # The execution was skipped (no condition matched): a replay of it needs force.
        replay = c.post(f"/api/executions/{execution['id']}/replay", params={"force": "true"})
    for response in (listed, per_hook, shown):
        assert response.status_code == 200, response.text
        assert CUT in response.text
    assert replay.status_code == 202, replay.text
    assert CUT in json.dumps(replay.json()["execution"]["triggerContext"])


def test_a_test_fire_payload_too_deep_to_store_is_refused(server: ServerProcess, bob: str):
    with server.client(token=bob) as c:
        hook = make_hook(c, unique_path())
        response = c.post(f"/api/hooks/{hook['id']}/test", json={"data": nested(300)})
        big = c.post(f"/api/hooks/{hook['id']}/test", json={"data": {"n": 2**64}})
    assert response.status_code == 400 and "data" in response.json()["error"]
    assert big.status_code == 400 and "data.n" in big.json()["error"]


# --- numbers -------------------------------------------------------------------------------


def test_integers_out_of_range_are_refused_naming_the_field(server: ServerProcess, bob: str):
    with server.client(token=bob) as c:
        refused(c, hook_body(maxExecutions=2**63), "maxExecutions")
        refused(c, hook_body(maxExecutions=2**31), "maxExecutions")
        equals_huge = {"field": "webhook.body.n", "operator": "equals", "value": 2**64}
        refused(c, hook_body(conditions=[equals_huge]), "conditions[0].value")
        in_huge = {"field": "webhook.body.n", "operator": "in", "value": [1, -(2**64)]}
        refused(c, hook_body(conditions=[in_huge]), "conditions[0].value[1]")
        for url in ("/api/executions", "/api/hooks/any/executions"):
            response = c.get(url, params={"offset": 2**63})
            assert response.status_code == 422 and "offset" in response.json()["error"]
        assert c.get("/api/executions", params={"limit": 2**63}).status_code == 422


def test_a_condition_path_that_cannot_index_a_list_simply_does_not_hold(
    server: ServerProcess, bob: str
):
    path = unique_path()
    conditions = [
        {"field": "webhook.body.a.99999999999999999999999", "operator": "exists", "value": False},
        {"field": "webhook.body.a.²", "operator": "equals", "value": 1},
    ]
    with server.client(token=bob) as c:
        hook = make_hook(c, path, conditions=conditions)
    assert send_github(server.url, path, b'{"a": [1, 2, 3]}', SECRET).status_code == 202
    with server.client(token=bob) as c:
        [run] = finished_executions(c, hook["id"])
    assert run["status"] == "skipped"


# --- fields --------------------------------------------------------------------------------


def test_a_name_of_spaces_is_refused(server: ServerProcess, bob: str):
    with server.client(token=bob) as c:
        refused(c, hook_body(name="   "), "name")
        hook = make_hook(c, unique_path(), name="  padded  ")
        assert hook["name"] == "padded"
        patch = c.patch(f"/api/hooks/{hook['id']}", json={"name": " \t "})
    assert patch.status_code == 422 and "name" in patch.json()["error"]


def test_unknown_trigger_config_fields_are_refused_naming_them(server: ServerProcess, bob: str):
    junk = {"webhookPath": unique_path(), "webhookSecret": SECRET, "junk": "x" * 5_000_000}
    with server.client(token=bob) as c:
        refused(c, hook_body(triggerConfig=junk), "triggerConfig", "junk")
        typo = {"webhookPath": unique_path(), "webhookSecret": SECRET, "evnets": ["push"]}
        refused(c, hook_body(triggerConfig=typo), "'evnets'")
        long_event = {"webhookPath": unique_path(), "events": ["e" * 1001]}
        refused(c, hook_body(triggerConfig=long_event), "triggerConfig.events[0]", "1000")


@pytest.mark.parametrize(
    "trigger",
    [
        {
            "provider": "github",
            "allowSha1": True,
            "events": ["push"],
            "toleranceSeconds": 60,
            "webhookSecrets": ["next-secret-value"],
        },
        {
            "provider": "hmac",
            "signatureHeader": "X-Acme-Signature",
            "algorithm": "sha512",
            "encoding": "base64",
            "prefix": "sha512=",
        },
    ],
)
def test_every_documented_trigger_config_field_is_kept(
    server: ServerProcess, bob: str, trigger: dict[str, Any]
):
    with server.client(token=bob) as c:
        hook = make_hook(c, unique_path(), triggerConfig=trigger)
    for key, value in trigger.items():
        if key != "webhookSecrets":
            assert hook["triggerConfig"][key] == value


def test_a_standard_secret_not_whsec_base64_is_refused(server: ServerProcess, bob: str):
    for secret in ("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_not base64!"):
        trigger = {"webhookPath": unique_path(), "provider": "standard", "webhookSecret": secret}
        with server.client(token=bob) as c:
            refused(c, hook_body(triggerConfig=trigger), "webhookSecret", "whsec_")


def test_configs_larger_than_the_limit_are_refused(server: ServerProcess, bob: str):
    config = {"notifyOwner": True, "message": "m" * 70_000}
    with server.client(token=bob) as c:
        refused(c, hook_body(actionConfig=config), "actionConfig", "OCTIPUS_HOOK_CONFIG_MAX_BYTES")

"""Ingress `POST /api/webhooks/{path}` through a real server (DESIGN §3.1)."""

from __future__ import annotations

import json
import time
import urllib.parse
import uuid

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.hooks import make_hook, send_github, unique_path
from tests.support.server import ServerProcess
from tests.support.signing import fixture_bytes, github_signature

SECRET = "s3cret-value"


def executions(server: ServerProcess, hook_id: str) -> list[dict]:
    with server.client() as c:
        response = c.get(f"/api/hooks/{hook_id}/executions")
    assert response.status_code == 200, response.text
    return response.json()["executions"]


def rejections(server: ServerProcess, path: str) -> list[dict]:
    with server.client() as c:
        return c.get("/api/webhooks/rejections", params={"path": path}).json()["rejections"]


@pytest.mark.parametrize(
    "fixture,event", [("push", "push"), ("pull_request.opened", "pull_request")]
)
def test_signed_github_fixture_is_accepted_and_queued(
    server: ServerProcess, fixture: str, event: str
):
    path = unique_path()
    with server.client() as c:
        hook = make_hook(c, path)
    body = fixture_bytes("github", fixture)
    delivery = str(uuid.uuid4())
    response = send_github(server.url, path, body, SECRET, event=event, delivery=delivery)
    assert response.status_code == 202, response.text
    assert response.json() == {
        "received": True,
        "accepted": True,
        "hooks": 1,
        "deliveryId": delivery,
    }
    [execution] = executions(server, hook["id"])
    assert execution["deliveryId"] == delivery
    assert execution["triggerContext"]["event"] == event
    assert execution["triggerContext"]["body"] == json.loads(body)
    assert "x-hub-signature-256" not in execution["triggerContext"]["headers"]


def test_github_ping_is_logged_as_success_without_running_the_action(server: ServerProcess):
    path = unique_path()
    with server.client() as c:
        hook = make_hook(c, path)
    response = send_github(server.url, path, fixture_bytes("github", "ping"), SECRET, event="ping")
    assert response.status_code == 202
    [execution] = executions(server, hook["id"])
    assert execution["status"] == "success"
    assert execution["result"]["ping"] is True
    assert execution["attempts"] == 0


def test_missing_signature_is_401_naming_the_header_and_logged(server: ServerProcess):
    path = unique_path()
    with server.client() as c:
        make_hook(c, path)
    response = httpx.post(f"{server.url}/api/webhooks/{path}", json={"a": 1})
    assert response.status_code == 401
    assert response.json()["error"].startswith("missing signature header (expected one of X-Hub-")
    [rejection] = rejections(server, path)
    assert rejection["status"] == 401 and "X-Hub-Signature-256" in rejection["reason"]


def test_wrong_signature_is_401_and_never_shows_the_secret(server: ServerProcess):
    path = unique_path()
    with server.client() as c:
        make_hook(c, path)
    response = send_github(server.url, path, b'{"a":1}', "not-the-secret")
    assert response.status_code == 401
    assert "signature mismatch for X-Hub-Signature-256" in response.json()["error"]
    assert SECRET not in response.text


def test_tampered_body_is_401(server: ServerProcess):
    path = unique_path()
    with server.client() as c:
        make_hook(c, path)
    signature = github_signature(SECRET, b'{"amount":1}')
    response = httpx.post(
        f"{server.url}/api/webhooks/{path}",
        content=b'{"amount":1000}',
        headers={"X-Hub-Signature-256": signature, "Content-Type": "application/json"},
    )
    assert response.status_code == 401


def test_hook_without_secret_rejects_every_request(server: ServerProcess):
    path = unique_path()
    with server.client() as c:
        make_hook(c, path, secret=None)
    response = send_github(server.url, path, b"{}", SECRET)
    assert response.status_code == 401
    assert "no webhookSecret" in response.json()["error"]


def test_unknown_path_is_404(server: ServerProcess):
    response = httpx.post(f"{server.url}/api/webhooks/{unique_path()}", json={})
    assert response.status_code == 404
    assert response.json() == {"error": "Webhook not found"}


def test_disabled_hook_is_404(server: ServerProcess):
    path = unique_path()
    with server.client() as c:
        hook = make_hook(c, path)
        assert c.post(f"/api/hooks/{hook['id']}/toggle", json={"enabled": False}).json() == {
            "success": True,
            "enabled": False,
        }
    assert send_github(server.url, path, b"{}", SECRET).status_code == 404


def test_invalid_json_after_verification_is_400(server: ServerProcess):
    path = unique_path()
    with server.client() as c:
        make_hook(c, path)
    response = send_github(server.url, path, b"{not json", SECRET)
    assert response.status_code == 400
    assert response.json() == {"error": "Invalid JSON payload"}
    assert rejections(server, path)[0]["status"] == 400


def test_duplicate_delivery_id_is_200_and_runs_once(server: ServerProcess):
    path = unique_path()
    with server.client() as c:
        hook = make_hook(c, path)
    delivery = str(uuid.uuid4())
    first = send_github(server.url, path, b'{"n":1}', SECRET, delivery=delivery)
    second = send_github(server.url, path, b'{"n":1}', SECRET, delivery=delivery)
    assert first.status_code == 202
    assert second.status_code == 200
    assert second.json() == {"received": True, "duplicate": True}
    assert len(executions(server, hook["id"])) == 1


def test_two_hooks_on_one_path_only_the_verifying_one_fires(server: ServerProcess):
    path = unique_path()
    with server.client() as c:
        alpha = make_hook(c, path, secret="alpha-secret-1")
        beta = make_hook(c, path, secret="beta-secret-22")
    response = send_github(server.url, path, b'{"x":1}', "beta-secret-22")
    assert response.status_code == 202
    assert response.json()["hooks"] == 1
    assert executions(server, alpha["id"]) == []
    assert len(executions(server, beta["id"])) == 1


def test_every_hook_whose_secret_verifies_fires(server: ServerProcess):
    path = unique_path()
    with server.client() as c:
        ids = [make_hook(c, path)["id"] for _ in range(2)]
    assert send_github(server.url, path, b'{"x":1}', SECRET).json()["hooks"] == 2
    assert all(len(executions(server, i)) == 1 for i in ids)


def test_github_form_mode_verifies_raw_bytes_and_parses_payload_field(server: ServerProcess):
    path = unique_path()
    with server.client() as c:
        hook = make_hook(c, path)
    payload = fixture_bytes("github", "issues.opened")
    body = ("payload=" + urllib.parse.quote_plus(payload.decode())).encode()
    response = send_github(
        server.url,
        path,
        body,
        SECRET,
        event="issues",
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 202, response.text
    [execution] = executions(server, hook["id"])
    assert execution["triggerContext"]["body"]["action"] == "opened"


def test_plain_text_body_is_kept_as_text(server: ServerProcess):
    path = unique_path()
    with server.client() as c:
        hook = make_hook(c, path)
    response = send_github(server.url, path, b"deploy finished", SECRET, content_type="text/plain")
    assert response.status_code == 202
    assert executions(server, hook["id"])[0]["triggerContext"]["body"] == "deploy finished"


def test_conditions_that_do_not_match_log_the_execution_as_skipped(server: ServerProcess):
    path = unique_path()
    conditions = [{"field": "webhook.body.action", "operator": "equals", "value": "closed"}]
    with server.client() as c:
        hook = make_hook(c, path, conditions=conditions)
    body = fixture_bytes("github", "pull_request.opened")
    assert send_github(server.url, path, body, SECRET, event="pull_request").status_code == 202
    [execution] = executions(server, hook["id"])
    assert execution["status"] == "skipped"
    assert "conditions" in execution["result"]["skipped"]


def test_event_filter_skips_other_events(server: ServerProcess):
    path = unique_path()
    with server.client() as c:
        hook = make_hook(c, path, triggerConfig={"events": ["push"]})
    send_github(server.url, path, fixture_bytes("github", "star.created"), SECRET, event="star")
    [execution] = executions(server, hook["id"])
    assert execution["status"] == "skipped"


def test_body_over_the_limit_is_413_without_reading_it_all(server_factory):
    server = server_factory(env={"OCTIPUS_MAX_BODY_BYTES": "1024"})
    path = unique_path()
    with server.client() as c:
        make_hook(c, path)
    big = b'{"pad":"' + b"x" * 4096 + b'"}'
    response = send_github(server.url, path, big, SECRET)
    assert response.status_code == 413
    assert "1024" in response.json()["error"]

    def chunks():
        yield b'{"pad":"'
        for _ in range(64):
            yield b"x" * 1024

    streamed = httpx.post(
        f"{server.url}/api/webhooks/{path}",
        content=chunks(),
        headers={"X-Hub-Signature-256": "sha256=00"},
    )
    assert streamed.status_code == 413
    assert [r["status"] for r in rejections(server, path)] == [413, 413]


def test_rejection_log_is_bounded_per_path(server_factory):
    server = server_factory(env={"OCTIPUS_REJECTIONS_PER_PATH": "3"})
    path = unique_path()
    with server.client() as c:
        make_hook(c, path)
    for _ in range(5):
        httpx.post(f"{server.url}/api/webhooks/{path}", json={})
    assert len(rejections(server, path)) == 3


def test_accepted_delivery_survives_a_restart(server_factory):
    server = server_factory(env={"OCTIPUS_WORKER_ENABLED": "false"})
    path = unique_path()
    with server.client() as c:
        hook = make_hook(c, path)
    assert send_github(server.url, path, b'{"keep":"me"}', SECRET).status_code == 202
    server.kill()
    server.start()
    [execution] = executions(server, hook["id"])
    assert execution["status"] == "queued"
    assert execution["triggerContext"]["body"] == {"keep": "me"}


def test_health_needs_no_token_and_metrics_count_deliveries(server: ServerProcess):
    assert httpx.get(f"{server.url}/api/health").json()["status"] == "ok"
    path = unique_path()
    with server.client() as c:
        make_hook(c, path)
    send_github(server.url, path, b"{}", SECRET)
    deadline = time.monotonic() + 5
    text = ""
    while time.monotonic() < deadline:
        text = httpx.get(f"{server.url}/metrics").text
        if "octipus_deliveries_accepted_total" in text:
            break
    assert "octipus_deliveries_accepted_total" in text
    assert 'octipus_deliveries_rejected_total{reason="not_found"}' in text or "queue_depth" in text


def _ingress_samples(server: ServerProcess) -> dict[str, float]:
    """The ingress batch and write histograms' `_count` and `_sum` samples, by name and phase."""
    samples: dict[str, float] = {}
    for family in text_string_to_metric_families(httpx.get(f"{server.url}/metrics").text):
        if family.name in ("octipus_ingress_batch_deliveries", "octipus_ingress_write_seconds"):
            for s in family.samples:
                if s.name.endswith(("_count", "_sum")):
                    samples[s.name + s.labels.get("phase", "")] = s.value
    return samples


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_metrics_show_how_deliveries_were_committed(request, server_factory, database: str):
    env = {"OCTIPUS_WORKER_ENABLED": "false"}
    if database == "postgresql":
        env["OCTIPUS_DATABASE_URL"] = request.getfixturevalue("pg_database_url")
    server = server_factory(env=env)
    path = unique_path()
    with server.client() as c:
        make_hook(c, path)
    before = _ingress_samples(server)
    sent = 5
    for n in range(sent):
        assert send_github(server.url, path, b'{"n":%d}' % n, SECRET).status_code == 202
    after = _ingress_samples(server)
    grew = {name: after[name] - before.get(name, 0.0) for name in after}
    assert grew["octipus_ingress_batch_deliveries_sum"] == sent  # every delivery, once
    batches = grew["octipus_ingress_batch_deliveries_count"]
    assert 1 <= batches <= sent
    assert grew["octipus_ingress_write_seconds_countcommit"] == batches
    assert grew["octipus_ingress_write_seconds_sumcommit"] > 0
    synced = grew.get("octipus_ingress_write_seconds_countsync", 0.0)
    assert synced == (batches if database == "sqlite" else 0)  # PostgreSQL syncs in its commit

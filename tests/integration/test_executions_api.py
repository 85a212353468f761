"""Execution log API (DESIGN §3.4): list, filter, show, replay, test-fire, and who sees what."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.hooks import make_hook, send_github, unique_path
from tests.support.receiver import Receiver, Reply
from tests.support.server import ServerProcess
from tests.support.waiting import finished_executions

SECRET = "s3cret-value"
ITEM_FIELDS = {
    "id",
    "hookId",
    "hookName",
    "deliveryId",
    "source",
    "status",
    "attempts",
    "maxAttempts",
    "triggerType",
    "actionType",
    "result",
    "error",
    "durationMs",
    "triggerContext",
    "createdAt",
    "startedAt",
    "finishedAt",
    "nextAttemptAt",
    "deliveryPk",
    "replayOf",
}


@pytest.fixture(scope="module")
def api_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    env = {"OCTIPUS_FORWARD_ALLOW_HOSTS": "127.0.0.1"}
    proc = ServerProcess(tmp_path_factory.mktemp("executions"), env).start()
    yield proc
    proc.kill()


@pytest.fixture(scope="module")
def bob(api_server: ServerProcess) -> str:
    return api_server.new_user_token("bob")


def forward_hook(server: ServerProcess, url: str, token: str | None = None, **config) -> dict:
    with server.client(token) as c:
        return make_hook(
            c, unique_path(), action="webhook", actionConfig={"webhookUrl": url, **config}
        )


def deliver(server: ServerProcess, hook: dict, count: int = 1, event: str = "push") -> None:
    path = hook["triggerConfig"]["webhookPath"]
    for n in range(count):
        response = send_github(server.url, path, b'{"n": %d}' % n, SECRET, event=event)
        assert response.status_code == 202, response.text


def test_items_have_the_documented_fields_newest_first(
    api_server: ServerProcess, receiver: Receiver
):
    hook = forward_hook(api_server, receiver.url + "/log")
    deliver(api_server, hook, 3)
    with api_server.client() as c:
        finished_executions(c, hook["id"], count=3)
        body = c.get(f"/api/hooks/{hook['id']}/executions").json()

    assert body["total"] == 3
    items = body["executions"]
    assert all(set(item) == ITEM_FIELDS for item in items)
    assert [item["triggerContext"]["body"]["n"] for item in items] == [2, 1, 0]
    item = items[0]
    assert item["hookName"] == hook["name"]
    assert (item["source"], item["status"], item["attempts"]) == ("hook", "success", 1)
    assert (item["triggerType"], item["actionType"]) == ("webhook", "webhook")
    assert item["triggerContext"]["event"] == "push"
    assert item["durationMs"] >= 0 and item["finishedAt"] and item["startedAt"]
    assert item["nextAttemptAt"] is None


def test_limit_offset_and_status_filter_page_through_the_log(
    api_server: ServerProcess, receiver: Receiver
):
    receiver.script("/pages", Reply(404))
    hook = forward_hook(api_server, receiver.url + "/pages")
    deliver(api_server, hook, 4)
    with api_server.client() as c:
        finished_executions(c, hook["id"], count=4)
        url = f"/api/hooks/{hook['id']}/executions"
        everything = c.get(url).json()["executions"]
        page = c.get(url, params={"limit": 2, "offset": 1}).json()
        errors = c.get(url, params={"status": "error"}).json()
        across = c.get("/api/executions", params={"hookId": hook["id"], "status": "success"}).json()

    assert [e["id"] for e in page["executions"]] == [e["id"] for e in everything[1:3]]
    assert page["total"] == 4
    assert [e["status"] for e in errors["executions"]] == ["error"]
    assert errors["total"] == 1
    assert across["total"] == 3
    assert {e["hookId"] for e in across["executions"]} == {hook["id"]}


@pytest.mark.parametrize(
    "params,status,field",
    [
        ({"limit": 0}, 422, "limit"),
        ({"limit": 501}, 422, "limit"),
        ({"offset": -1}, 422, "offset"),
        ({"limit": "ten"}, 422, "limit"),
        ({"status": "done"}, 400, "status"),
    ],
)
def test_invalid_list_parameters_are_refused_naming_the_parameter(
    api_server: ServerProcess, params: dict, status: int, field: str
):
    with api_server.client() as c:
        response = c.get("/api/executions", params=params)
    assert response.status_code == status
    assert field in response.json()["error"]


def test_one_execution_can_be_fetched_by_id(api_server: ServerProcess, receiver: Receiver):
    hook = forward_hook(api_server, receiver.url + "/one")
    deliver(api_server, hook)
    with api_server.client() as c:
        [listed] = finished_executions(c, hook["id"])
        response = c.get(f"/api/executions/{listed['id']}")
        missing = c.get("/api/executions/0123456789abcdef0123456789abcdef")
    shown = response.json()["execution"]
    assert [a["outcome"] for a in shown.pop("attemptLog")] == ["success"]
    assert shown == listed
    assert missing.status_code == 404


def test_replay_queues_the_same_delivery_again_as_a_new_execution(
    api_server: ServerProcess, receiver: Receiver
):
    hook = forward_hook(api_server, receiver.url + "/replay")
    deliver(api_server, hook)
    with api_server.client() as c:
        [original] = finished_executions(c, hook["id"])
        response = c.post(f"/api/executions/{original['id']}/replay")
        assert response.status_code == 202, response.text
        replay = response.json()["execution"]
        done = finished_executions(c, hook["id"], count=2)

    assert replay["source"] == "replay"
    assert replay["deliveryId"] == original["deliveryId"]
    assert replay["id"] != original["id"]
    assert {e["source"]: e["status"] for e in done} == {"hook": "success", "replay": "success"}
    first, second = receiver.requests("/replay")
    assert first.body == second.body
    assert second.headers["idempotency-key"] == replay["id"]


def test_test_fire_runs_the_action_now_with_the_given_payload(
    api_server: ServerProcess, receiver: Receiver
):
    hook = forward_hook(
        api_server,
        receiver.url + "/fire",
        webhookBody={"said": "{{webhook.body.message}}", "event": "{{webhook.event}}"},
    )
    with api_server.client() as c:
        response = c.post(
            f"/api/hooks/{hook['id']}/test",
            json={
                "data": {"message": "hello"},
                "headers": {"X-GitHub-Event": "deploy", "Authorization": "Bearer leak"},
            },
        )
    assert response.status_code == 200, response.text
    [result] = response.json()["results"]
    assert (result["source"], result["status"], result["attempts"]) == ("manual_test", "success", 1)
    assert result["triggerContext"]["body"] == {"message": "hello"}
    assert result["triggerContext"]["event"] == "deploy"
    assert "authorization" not in result["triggerContext"]["headers"]
    [received] = receiver.requests("/fire")
    assert received.body == b'{"said":"hello","event":"deploy"}'
    assert received.headers["idempotency-key"] == result["id"]


def test_test_fire_reports_a_failure_at_once_without_retrying(
    api_server: ServerProcess, receiver: Receiver
):
    receiver.default = Reply(503)
    hook = forward_hook(api_server, receiver.url + "/fire-down")
    with api_server.client() as c:
        [result] = c.post(f"/api/hooks/{hook['id']}/test", json={}).json()["results"]
    assert result["status"] == "error"
    assert "503" in result["error"]
    assert len(receiver.requests("/fire-down")) == 1


def test_another_users_executions_are_404_and_not_listed(
    api_server: ServerProcess, receiver: Receiver, bob: str
):
    hook = forward_hook(api_server, receiver.url + "/private")
    deliver(api_server, hook)
    with api_server.client() as c:
        [execution] = finished_executions(c, hook["id"])
    with api_server.client(bob) as c:
        answers = [
            c.get(f"/api/hooks/{hook['id']}/executions"),
            c.get(f"/api/executions/{execution['id']}"),
            c.post(f"/api/executions/{execution['id']}/replay"),
            c.post(f"/api/hooks/{hook['id']}/test", json={}),
        ]
        listed = c.get("/api/executions", params={"limit": 500}).json()
    assert [a.status_code for a in answers] == [404] * 4
    assert execution["id"] not in {e["id"] for e in listed["executions"]}


def test_users_see_their_own_executions_and_admins_see_everyones(
    api_server: ServerProcess, receiver: Receiver, bob: str
):
    hook = forward_hook(api_server, receiver.url + "/bobs", token=bob)
    deliver(api_server, hook)
    with api_server.client(bob) as c:
        [own] = finished_executions(c, hook["id"])
        bobs = c.get("/api/executions", params={"limit": 500}).json()["executions"]
    with api_server.client() as c:
        seen_by_admin = c.get(f"/api/executions/{own['id']}")
    assert own["id"] in {e["id"] for e in bobs}
    assert {e["hookName"] for e in bobs} == {hook["name"]}
    assert seen_by_admin.status_code == 200


def test_the_execution_log_needs_a_token(api_server: ServerProcess):
    with api_server.client(token="oct_wrong") as c:
        response = c.get("/api/executions")
    assert response.status_code == 401

"""Scheduling through a real server: slots, hook caps, FIFO per hook, maxExecutions, cooldownMs."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import pytest

from tests.support.hooks import make_hook, send_github, unique_path
from tests.support.receiver import Receiver, Reply
from tests.support.server import ServerProcess
from tests.support.waiting import finished_executions, wait_until

SECRET = "s3cret-value"
ALLOW_RECEIVER = {"OCTIPUS_FORWARD_ALLOW_HOSTS": "127.0.0.1"}


@pytest.fixture(scope="module")
def queue_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """Default limits: 20 runs at once, no cap per hook."""
    proc = ServerProcess(tmp_path_factory.mktemp("limits"), ALLOW_RECEIVER).start()
    yield proc
    proc.kill()


def forward_hook(server: ServerProcess, url: str, **fields) -> dict:
    with server.client() as c:
        return make_hook(
            c, unique_path(), action="webhook", actionConfig={"webhookUrl": url}, **fields
        )


def deliver(server: ServerProcess, hook: dict, count: int) -> None:
    path = hook["triggerConfig"]["webhookPath"]
    for n in range(count):
        response = send_github(server.url, path, b'{"n": %d}' % n, SECRET)
        assert response.status_code == 202, response.text


def statuses(server: ServerProcess, hook: dict) -> list[str]:
    with server.client() as c:
        found = c.get(f"/api/hooks/{hook['id']}/executions").json()["executions"]
    return [e["status"] for e in found]


def test_a_single_hooks_burst_uses_every_free_slot(queue_server: ServerProcess, receiver: Receiver):
    receiver.default = Reply(200, delay=5)  # longer than sending all 8 on a busy machine
    hook = forward_hook(queue_server, receiver.url + "/burst")
    deliver(queue_server, hook, 8)

    with queue_server.client() as c:
        finished_executions(c, hook["id"], count=8)
    assert receiver.max_in_flight("/burst") == 8


def test_a_hook_never_runs_more_than_its_concurrency_at_once(
    queue_server: ServerProcess, receiver: Receiver
):
    receiver.default = Reply(200, delay=1)
    hook = forward_hook(queue_server, receiver.url + "/limit", concurrency=2)
    deliver(queue_server, hook, 6)

    with queue_server.client() as c:
        finished_executions(c, hook["id"], count=6)
    assert receiver.max_in_flight("/limit") == 2


def test_concurrency_is_shown_changed_and_cleared_through_the_api(queue_server: ServerProcess):
    with queue_server.client() as c:
        hook = make_hook(
            c,
            unique_path(),
            action="webhook",
            concurrency=3,
            actionConfig={"webhookUrl": "http://127.0.0.1:9/x"},
        )
        assert hook["concurrency"] == 3
        refused = c.patch(f"/api/hooks/{hook['id']}", json={"concurrency": 0})
        cleared = c.patch(f"/api/hooks/{hook['id']}", json={"concurrency": None})
    assert refused.status_code == 422
    assert "concurrency" in refused.text
    assert cleared.json()["hook"]["concurrency"] is None


def test_a_hook_arriving_while_another_holds_every_slot_gets_the_next_one(
    server_factory: Callable[..., ServerProcess], receiver: Receiver
):
    server = server_factory(env={**ALLOW_RECEIVER, "OCTIPUS_WORKER_CONCURRENCY": "2"})
    receiver.script("/busy", *[Reply(200, delay=2)] * 6)
    busy = forward_hook(server, receiver.url + "/busy")
    other = forward_hook(server, receiver.url + "/other")
    deliver(server, busy, 6)
    wait_until(lambda: len(receiver.requests("/busy")) == 2, what="both slots busy")
    deliver(server, other, 1)

    with server.client() as c:
        [done] = finished_executions(c, other["id"])
    assert done["status"] == "success"
    assert statuses(server, busy).count("queued") >= 2  # not behind the busy hook's backlog


def test_executions_of_one_hook_start_in_the_order_they_arrived(
    server_factory: Callable[..., ServerProcess], receiver: Receiver
):
    server = server_factory(env=ALLOW_RECEIVER)
    receiver.default = Reply(200, delay=0.1)
    hook = forward_hook(server, receiver.url + "/fifo", concurrency=1)
    deliver(server, hook, 8)

    with server.client() as c:
        finished_executions(c, hook["id"], count=8)
    assert [json.loads(r.body)["n"] for r in receiver.requests("/fifo")] == list(range(8))


def test_max_executions_skips_runs_past_the_limit(queue_server: ServerProcess, receiver: Receiver):
    hook = forward_hook(queue_server, receiver.url + "/max", maxExecutions=2)
    deliver(queue_server, hook, 3)

    with queue_server.client() as c:
        done = finished_executions(c, hook["id"], count=3)
        shown = c.get(f"/api/hooks/{hook['id']}").json()["hook"]
    assert sorted(e["status"] for e in done) == ["skipped", "success", "success"]
    [skipped] = [e for e in done if e["status"] == "skipped"]
    assert skipped["result"] == {"skipped": "maxExecutions (2) reached"}
    assert shown["executionCount"] == 2
    assert len(receiver.requests("/max")) == 2


def test_cooldown_skips_runs_that_come_too_soon(queue_server: ServerProcess, receiver: Receiver):
    hook = forward_hook(queue_server, receiver.url + "/cool", cooldownMs=3_600_000)
    deliver(queue_server, hook, 1)
    with queue_server.client() as c:
        finished_executions(c, hook["id"])
    deliver(queue_server, hook, 1)

    with queue_server.client() as c:
        first, second = finished_executions(c, hook["id"], count=2)
        shown = c.get(f"/api/hooks/{hook['id']}").json()["hook"]
    assert first["status"] == "success"
    assert second["status"] == "skipped"
    assert "cooldownMs (3600000)" in second["result"]["skipped"]
    assert shown["lastExecutedAt"] is not None
    assert len(receiver.requests("/cool")) == 1


def test_a_failed_run_is_shown_as_the_hooks_last_error(
    queue_server: ServerProcess, receiver: Receiver
):
    receiver.default = Reply(404)
    hook = forward_hook(queue_server, receiver.url + "/gone")
    deliver(queue_server, hook, 1)

    with queue_server.client() as c:
        [done] = finished_executions(c, hook["id"])
        shown = wait_until(
            lambda: c.get(f"/api/hooks/{hook['id']}").json()["hook"]["lastError"],
            what="lastError",
        )
    assert done["status"] == "error"
    assert "answered 404" in shown

"""PostgreSQL mode: two API processes and two worker processes share one queue (DESIGN §4)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.support.hooks import make_hook, send_github, unique_path
from tests.support.receiver import Receiver, Reply
from tests.support.server import ServerProcess
from tests.support.waiting import finished_executions

pytestmark = pytest.mark.postgres

SECRET = "s3cret-value"


def start_cluster(
    server_factory: Callable[..., ServerProcess],
    database_url: str,
    extra_env: dict[str, str] | None = None,
) -> list[ServerProcess]:
    """Two `serve --no-worker` and two `worker` processes on one database.

    The first API process starts alone (it migrates and creates the admin), the rest together.
    """
    env = {
        "OCTIPUS_DATABASE_URL": database_url,
        "OCTIPUS_FORWARD_ALLOW_HOSTS": "127.0.0.1",
        **(extra_env or {}),
    }
    first_api = server_factory(env=env, args=["serve", "--no-worker"])
    workers = [
        server_factory(env=env, args=["worker"], ready_log="worker started", autostart=False)
        for _ in range(2)
    ]
    second_api = server_factory(env=env, args=["serve", "--no-worker"], autostart=False)
    with ThreadPoolExecutor() as pool:
        list(pool.map(ServerProcess.start, [second_api, *workers]))
    return [first_api, second_api]


def forward_hook(api: ServerProcess, url: str) -> dict:
    with api.client() as c:
        return make_hook(c, unique_path(), action="webhook", actionConfig={"webhookUrl": url})


def deliver_round_robin(apis: list[ServerProcess], hooks: list[dict], per_hook: int) -> None:
    for n in range(per_hook):
        for i, hook in enumerate(hooks):
            api = apis[(n + i) % len(apis)]
            path = hook["triggerConfig"]["webhookPath"]
            response = send_github(api.url, path, b'{"n": %d}' % n, SECRET)
            assert response.status_code == 202, response.text


def test_every_execution_runs_exactly_once_across_two_workers(
    server_factory: Callable[..., ServerProcess], pg_database_url: str, receiver: Receiver
):
    apis = start_cluster(server_factory, pg_database_url)
    hooks = [forward_hook(apis[0], f"{receiver.url}/pg{i}") for i in range(3)]
    deliver_round_robin(apis, hooks, per_hook=20)

    with apis[1].client() as c:
        done = [e for h in hooks for e in finished_executions(c, h["id"], count=20)]
    assert {e["status"] for e in done} == {"success"}
    keys = Counter(r.headers["idempotency-key"] for r in receiver.requests())
    assert set(keys) == {e["id"] for e in done}
    assert set(keys.values()) == {1}


def test_the_per_hook_limit_holds_across_worker_processes(
    server_factory: Callable[..., ServerProcess], pg_database_url: str, receiver: Receiver
):
    apis = start_cluster(server_factory, pg_database_url)
    receiver.default = Reply(200, delay=1)  # long enough that runs overlap
    hook = forward_hook(apis[0], f"{receiver.url}/pglimit")
    deliver_round_robin(apis, [hook], per_hook=8)

    with apis[0].client() as c:
        finished_executions(c, hook["id"], count=8)
    assert receiver.max_in_flight("/pglimit") == 2


def test_a_delivery_on_an_api_node_wakes_the_workers_without_waiting_for_their_poll(
    server_factory: Callable[..., ServerProcess], pg_database_url: str, receiver: Receiver
):
    slow_poll = {"OCTIPUS_POLL_INTERVAL_SECONDS": "600"}  # only NOTIFY can wake them in time
    apis = start_cluster(server_factory, pg_database_url, slow_poll)
    hook = forward_hook(apis[0], f"{receiver.url}/pgwake")
    deliver_round_robin(apis, [hook], per_hook=2)

    with apis[0].client() as c:
        done = finished_executions(c, hook["id"], count=2, timeout=30)
    assert {e["status"] for e in done} == {"success"}

"""PostgreSQL mode: two API processes and several worker processes share one queue."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import asyncpg
import pytest
from cryptography.fernet import Fernet

from tests.support.hooks import make_hook, send_github, unique_path
from tests.support.receiver import Receiver, Reply
from tests.support.server import ServerProcess
from tests.support.waiting import finished_executions, wait_until

pytestmark = pytest.mark.postgres

SECRET = "s3cret-value"


@dataclass
class Cluster:
    apis: list[ServerProcess]
    workers: list[ServerProcess]
    env: dict[str, str]


def start_cluster(
    server_factory: Callable[..., ServerProcess],
    database_url: str,
    extra_env: dict[str, str] | None = None,
    workers: int = 2,
) -> Cluster:
    """Two `serve --no-worker` and `workers` `worker` processes on one database.

    The first API process starts alone (it migrates and creates the admin), the rest together.
    """
    env = {
        "OCTIPUS_DATABASE_URL": database_url,
        "OCTIPUS_SECRET_KEY": Fernet.generate_key().decode(),  # one key for every node
        "OCTIPUS_FORWARD_ALLOW_HOSTS": "127.0.0.1",
        **(extra_env or {}),
    }
    first_api = server_factory(env=env, args=["serve", "--no-worker"])
    pool = [worker_process(server_factory, env) for _ in range(workers)]
    second_api = server_factory(env=env, args=["serve", "--no-worker"], autostart=False)
    with ThreadPoolExecutor() as starting:
        list(starting.map(ServerProcess.start, [second_api, *pool]))
    return Cluster([first_api, second_api], pool, env)


def worker_process(server_factory: Callable[..., ServerProcess], env: dict[str, str]):
    """An `octipus worker` process, not started yet."""
    return server_factory(env=env, args=["worker"], ready_log="worker started", autostart=False)


def pg_query(database_url: str, statement: str) -> object:
    """The first value `statement` returns, read over a connection of its own."""

    async def run() -> object:
        conn = await asyncpg.connect(database_url.replace("postgresql+asyncpg", "postgresql"))
        try:
            return await conn.fetchval(statement)
        finally:
            await conn.close()

    return asyncio.run(run())


def forward_hook(api: ServerProcess, url: str, **fields) -> dict:
    with api.client() as c:
        return make_hook(
            c, unique_path(), action="webhook", actionConfig={"webhookUrl": url}, **fields
        )


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
    apis = start_cluster(server_factory, pg_database_url).apis
    hooks = [forward_hook(apis[0], f"{receiver.url}/pg{i}") for i in range(3)]
    deliver_round_robin(apis, hooks, per_hook=20)

    with apis[1].client() as c:
        done = [e for h in hooks for e in finished_executions(c, h["id"], count=20)]
    assert {e["status"] for e in done} == {"success"}
    keys = Counter(r.headers["idempotency-key"] for r in receiver.requests())
    assert set(keys) == {e["id"] for e in done}
    assert set(keys.values()) == {1}


def test_a_hooks_concurrency_holds_exactly_across_three_worker_processes(
    server_factory: Callable[..., ServerProcess], pg_database_url: str, receiver: Receiver
):
    apis = start_cluster(server_factory, pg_database_url, workers=3).apis
    receiver.default = Reply(200, delay=1)  # long enough that runs overlap
    capped = forward_hook(apis[0], f"{receiver.url}/pgcap", concurrency=2)
    wide = forward_hook(apis[0], f"{receiver.url}/pgwide")
    deliver_round_robin(apis, [capped, wide], per_hook=10)

    with apis[0].client() as c:
        finished_executions(c, capped["id"], count=10, timeout=60)
        finished_executions(c, wide["id"], count=10)
    assert receiver.max_in_flight("/pgcap") == 2
    assert receiver.max_in_flight("/pgwide") > 2  # uncapped: the free slots of all workers


def test_a_sigkilled_workers_hook_resumes_within_25_seconds(
    server_factory: Callable[..., ServerProcess], pg_database_url: str, receiver: Receiver
):
    cluster = start_cluster(server_factory, pg_database_url, workers=1)
    api = cluster.apis[0]
    receiver.script("/pgkill", Reply(200, delay=120), Reply(200, delay=120))  # hang until killed
    hook = forward_hook(api, f"{receiver.url}/pgkill", concurrency=2)
    deliver_round_robin(cluster.apis, [hook], per_hook=6)
    wait_until(lambda: len(receiver.requests("/pgkill")) == 2, what="both slots of the hook held")
    survivor = worker_process(server_factory, cluster.env).start()

    cluster.workers[0].kill()
    killed_at = time.monotonic()
    with api.client() as c:
        done = finished_executions(c, hook["id"], count=6, timeout=25)
    assert time.monotonic() - killed_at < 25
    assert [e["status"] for e in done] == ["success"] * 6
    sent = Counter(r.headers["idempotency-key"] for r in receiver.requests("/pgkill"))
    assert sorted(sent.values()) == [1, 1, 1, 1, 2, 2]  # only the two runs cut by the kill
    assert "recovered stalled executions" in survivor.logs()


def test_max_executions_count_exactly_across_three_workers_without_deadlocks(
    server_factory: Callable[..., ServerProcess], pg_database_url: str, receiver: Receiver
):
    cluster = start_cluster(server_factory, pg_database_url, workers=3)
    deadlocks = "SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()"
    before = pg_query(pg_database_url, deadlocks)
    hooks = [
        forward_hook(cluster.apis[0], f"{receiver.url}/pgmax{i}", maxExecutions=10)
        for i in range(3)
    ]
    with ThreadPoolExecutor(4) as sending:  # deliveries overlap, so claims do too
        list(sending.map(lambda n: deliver_round_robin(cluster.apis, hooks, 5), range(4)))

    with cluster.apis[0].client() as c:
        for hook in hooks:
            done = finished_executions(c, hook["id"], count=20, timeout=60)
            shown = c.get(f"/api/hooks/{hook['id']}").json()["hook"]
            assert Counter(e["status"] for e in done) == {"success": 10, "skipped": 10}
            assert shown["executionCount"] == 10
    for worker in cluster.workers:
        worker.stop()  # their database sessions end, and report their statistics
        assert "deadlock" not in worker.logs()
    assert pg_query(pg_database_url, deadlocks) == before


def test_a_delivery_on_an_api_node_wakes_the_workers_without_waiting_for_their_poll(
    server_factory: Callable[..., ServerProcess], pg_database_url: str, receiver: Receiver
):
    slow_poll = {"OCTIPUS_POLL_INTERVAL_SECONDS": "600"}  # only NOTIFY can wake them in time
    apis = start_cluster(server_factory, pg_database_url, slow_poll).apis
    hook = forward_hook(apis[0], f"{receiver.url}/pgwake")
    deliver_round_robin(apis, [hook], per_hook=2)

    with apis[0].client() as c:
        done = finished_executions(c, hook["id"], count=2, timeout=30)
    assert {e["status"] for e in done} == {"success"}

"""Retention prunes old finished executions and unreferenced deliveries, and nothing else."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from octipus.db.ids import first_id_at
from octipus.db.tables import Attempt, Delivery, Execution
from tests.support.hooks import make_hook, send_github, unique_path
from tests.support.server import ServerProcess
from tests.support.waiting import wait_until

SECRET = "s3cret-value"
NOW = datetime.now(UTC)
RETENTION = {
    "OCTIPUS_RETENTION_DAYS": "30",
    "OCTIPUS_RETENTION_BODY_DAYS": "7",
    "OCTIPUS_RETENTION_INTERVAL_SECONDS": "0.3",
    "OCTIPUS_WORKER_ENABLED": "false",  # the queued rows below stay queued
}


def aged_id(days: float) -> str:
    """An id as `new_id` gave it `days` ago."""
    return first_id_at(NOW - timedelta(days=days))[:12] + uuid.uuid4().hex[:20]


class Rows:
    """Deliveries and executions written straight into the database, aged as told."""

    def __init__(self, hook: dict[str, Any]):
        self.hook = hook
        self.deliveries: list[dict[str, Any]] = []
        self.executions: list[dict[str, Any]] = []

    def delivery(self, days: float) -> str:
        at = NOW - timedelta(days=days)
        row = {"id": aged_id(days), "path": "aged", "body": b'{"old": true}', "received_at": at}
        self.deliveries.append({**row, "headers": {}, "query": {}, "method": "POST"})
        return str(row["id"])

    def execution(self, delivery: str, days: float, status: str, finished: float | None) -> str:
        row = {
            "id": aged_id(days),
            "hook_id": self.hook["id"],
            "delivery_pk": delivery,
            "status": status,
            "action_type": self.hook["action"],
            "created_at": NOW - timedelta(days=days),
            "run_after": NOW - timedelta(days=days),
            "finished_at": None if finished is None else NOW - timedelta(days=finished),
        }
        self.executions.append(row)
        return str(row["id"])

    def write(self, database_url: str) -> None:
        async def run() -> None:
            engine = create_async_engine(database_url)
            async with engine.begin() as conn:
                await conn.execute(sa.insert(Delivery.__table__), self.deliveries)
                await conn.execute(sa.insert(Execution.__table__), self.executions)
            await engine.dispose()

        asyncio.run(run())


def stored(database_url: str) -> tuple[set[str], dict[str, bytes]]:
    """The execution ids, and each delivery's body, now in the database."""

    async def run() -> tuple[set[str], dict[str, bytes]]:
        engine = create_async_engine(database_url)
        async with engine.connect() as conn:
            executions = set((await conn.scalars(sa.select(Execution.id))).all())
            bodies = await conn.execute(sa.select(Delivery.id, Delivery.body))
            found = executions, {row.id: row.body for row in bodies}
        await engine.dispose()
        return found

    return asyncio.run(run())


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database(request: pytest.FixtureRequest, tmp_path: Any) -> dict[str, str]:
    if request.param == "postgres":
        return {"OCTIPUS_DATABASE_URL": request.getfixturevalue("pg_database_url")}
    return {"OCTIPUS_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/retention.db"}


def test_retention_prunes_old_finished_rows_and_nothing_else(
    server_factory: Callable[..., ServerProcess], database: dict[str, str]
):
    server = server_factory(env={**RETENTION, **database})
    url = database["OCTIPUS_DATABASE_URL"]
    path = unique_path()
    with server.client() as c:
        hook = make_hook(c, path, SECRET)
    assert send_github(server.url, path, b'{"fresh": true}', SECRET).status_code == 202

    rows = Rows(hook)
    old = rows.delivery(40)
    gone = {rows.execution(old, 40, "success", 40) for _ in range(2500)}  # several batches
    gone.add(rows.execution(rows.delivery(40), 40, "error", 39))
    gone.add(rows.execution(rows.delivery(40), 40, "skipped", 40))
    orphan = rows.delivery(40)
    waiting = rows.delivery(40)
    kept = {
        rows.execution(waiting, 40, "queued", None),
        rows.execution(waiting, 40, "retrying", None),
        rows.execution(rows.delivery(40), 40, "running", None),
        rows.execution(late := rows.delivery(40), 40, "success", 1),  # finished recently
    }
    last_week = rows.execution(week := rows.delivery(10), 10, "success", 10)
    before = stored(url)
    rows.write(url)

    def pruned() -> bool:
        executions, bodies = stored(url)
        return executions.isdisjoint(gone) and orphan not in bodies and bodies[week] == b""

    wait_until(pruned, 30, "a retention pass")
    executions, bodies = stored(url)
    assert executions == before[0] | kept | {last_week}
    kept_deliveries = (
        {d["id"] for d in rows.deliveries}
        - {old, orphan}
        - {e["delivery_pk"] for e in rows.executions if e["id"] in gone}
    )
    assert set(bodies) == set(before[1]) | kept_deliveries
    assert all(bodies[d] == body for d, body in before[1].items())  # fresh: untouched
    assert bodies[waiting] == b'{"old": true}'  # its executions still need it
    assert bodies[late] == bodies[week] == b""
    with server.client() as c:
        replay = c.post(f"/api/executions/{last_week}/replay")
    assert replay.status_code == 409 and "OCTIPUS_RETENTION_BODY_DAYS" in replay.text
    assert "retention pass" in server.logs()


def attempt_rows(database_url: str, execution_ids: set[str]) -> int:
    """How many attempt rows these executions have."""

    async def run() -> int:
        engine = create_async_engine(database_url)
        async with engine.connect() as conn:
            count = await conn.scalar(
                sa.select(sa.func.count())
                .select_from(Attempt)
                .where(Attempt.execution_id.in_(execution_ids))
            )
        await engine.dispose()
        return int(count or 0)

    return asyncio.run(run())


def add_attempts(database_url: str, execution_ids: set[str]) -> None:
    async def run() -> None:
        engine = create_async_engine(database_url)
        async with engine.begin() as conn:
            await conn.execute(
                sa.insert(Attempt.__table__),
                [
                    {
                        "id": uuid.uuid4().hex,
                        "execution_id": e,
                        "number": 1,
                        "finished_at": NOW,
                        "duration_ms": 1,
                        "outcome": "success",
                    }
                    for e in execution_ids
                ],
            )
        await engine.dispose()

    asyncio.run(run())


def search_hits(database_url: str, word: str) -> int:
    """Deliveries whose indexed body holds `word` (SQLite's search index)."""

    async def run() -> int:
        engine = create_async_engine(database_url)
        async with engine.connect() as conn:
            count = await conn.scalar(
                sa.text("SELECT count(*) FROM delivery_search WHERE delivery_search MATCH :w"),
                {"w": word},
            )
        await engine.dispose()
        return int(count or 0)

    return asyncio.run(run())


def test_retention_removes_attempts_and_search_words_with_their_rows(
    server_factory: Callable[..., ServerProcess], database: dict[str, str]
):
    env = {**RETENTION, **database, "OCTIPUS_SEARCH_INDEX_INTERVAL_SECONDS": "0.2"}
    server = server_factory(env=env)
    url = database["OCTIPUS_DATABASE_URL"]
    path = unique_path()
    with server.client() as c:
        hook = make_hook(c, path, SECRET)
    rows = Rows(hook)
    gone = {rows.execution(rows.delivery(40), 40, "error", 40) for _ in range(3)}
    waiting = rows.delivery(40)
    kept = {rows.execution(waiting, 40, "retrying", None)}
    rows.execution(week := rows.delivery(10), 10, "success", 10)
    rows.write(url)
    add_attempts(url, gone | kept)
    assert send_github(server.url, path, b'{"fresh": true}', SECRET).status_code == 202

    wait_until(lambda: stored(url)[1][week] == b"" and attempt_rows(url, gone) == 0, 30)
    assert attempt_rows(url, kept) == 1
    if url.startswith("sqlite"):
        # Deliveries are indexed in arrival order: once the newest is, every older one was.
        wait_until(lambda: search_hits(url, "fresh") == 1, 30, "the fresh delivery indexed")
        assert search_hits(url, "old") == 1  # `waiting`'s body: the others' words are gone

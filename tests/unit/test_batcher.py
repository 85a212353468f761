"""Group commit of deliveries (ingress/batcher.py) on a real SQLite database."""

from __future__ import annotations

import asyncio
import os
import sqlite3
from collections.abc import AsyncIterator
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from octipus.accounts import create_user
from octipus.config import Settings
from octipus.db.engine import upgrade_schema
from octipus.db.ids import new_id
from octipus.db.tables import Delivery, Execution, Hook
from octipus.hooks.cache import HookEntry
from octipus.ingress.accept import Accepted, Outcome
from octipus.ingress.batcher import NotStored
from octipus.ingress.providers.verifier import build_verifier
from octipus.runtime import Runtime


@pytest.fixture
async def runtime(tmp_path: Path) -> AsyncIterator[Runtime]:
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/t.db", data_dir=tmp_path)
    runtime = Runtime.create(settings)
    await upgrade_schema(runtime.engine)
    yield runtime
    await runtime.close()


@pytest.fixture
async def hook(runtime: Runtime) -> HookEntry:
    async with runtime.sessions.begin() as session:
        owner = await create_user(session, "owner")
        row = Hook(owner_id=owner.id, name="h", webhook_path="p", action="webhook")
        session.add(row)
        await session.flush()
        hook_id = row.id
    return _entry(hook_id)


def _entry(hook_id: str) -> HookEntry:
    return HookEntry(
        id=hook_id,
        name="h",
        action="webhook",
        provider="github",
        verifier=build_verifier({"webhookSecret": "s"}),
        events=frozenset(),
        conditions=[],
        max_attempts=None,
        extra_sensitive_headers=(),
        owner_id="u",
    )


def _item(hook: HookEntry, delivery_id: str | None = None, body: object = b"{}") -> Accepted:
    delivery = {
        "id": new_id(),
        "path": "p",
        "delivery_id": delivery_id,
        "event_type": "push",
        "method": "POST",
        "content_type": "application/json",
        "headers": {},
        "query": {},
        "body": body,
        "received_at": datetime.now(UTC),
    }
    return Accepted(delivery, [(hook, Outcome("queued"))])


async def _count(runtime: Runtime, table: type) -> int:
    async with runtime.sessions() as session:
        return int(await session.scalar(sa.select(sa.func.count()).select_from(table)) or 0)


async def test_concurrent_deliveries_are_all_committed_with_their_hooks(
    runtime: Runtime, hook: HookEntry
):
    items = [_item(hook, f"d-{i}") for i in range(40)]
    fired = await asyncio.gather(*(runtime.deliveries.record(i) for i in items))
    assert fired == [[hook.id]] * 40
    assert await _count(runtime, Execution) == 40
    assert await _count(runtime, Delivery) == 40


async def test_duplicates_in_flight_together_fire_once_and_leave_one_delivery(
    runtime: Runtime, hook: HookEntry
):
    fired = await asyncio.gather(
        *(runtime.deliveries.record(_item(hook, "same")) for _ in range(8))
    )
    assert sorted(fired) == [[]] * 7 + [[hook.id]]
    assert await _count(runtime, Execution) == 1
    assert await _count(runtime, Delivery) == 1


async def test_a_row_that_breaks_a_constraint_fails_alone(runtime: Runtime, hook: HookEntry):
    good = [_item(hook, f"g-{i}") for i in range(5)]
    orphan = _item(_entry("no-such-hook"), "orphan")
    results = await asyncio.gather(
        *(runtime.deliveries.record(i) for i in [*good[:2], orphan, *good[2:]]),
        return_exceptions=True,
    )
    assert isinstance(results[2], NotStored)
    assert [r for i, r in enumerate(results) if i != 2] == [[hook.id]] * 5
    assert await _count(runtime, Execution) == 5


async def test_a_failed_batch_fails_only_its_own_requests(runtime: Runtime, hook: HookEntry):
    unstorable = _item(hook, "bad", body=object())  # the driver cannot bind this value
    neighbours = [_item(hook, f"n-{i}") for i in range(3)]
    results = await asyncio.gather(
        *(runtime.deliveries.record(i) for i in [unstorable, *neighbours]),
        return_exceptions=True,
    )
    assert all(isinstance(r, NotStored) for r in results)
    assert await runtime.deliveries.record(_item(hook, "later")) == [hook.id]
    assert await _count(runtime, Execution) == 1


def _committed_executions(runtime: Runtime) -> int:
    """Executions committed so far, read on a connection of its own (blocking)."""
    database = make_url(runtime.settings.database_url).database
    with closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as connection:
        return int(connection.execute("SELECT count(*) FROM executions").fetchone()[0])


async def test_an_answer_waits_for_the_wal_fsync(
    runtime: Runtime, hook: HookEntry, monkeypatch: pytest.MonkeyPatch
):
    writer = runtime.deliveries._sqlite_writer
    assert writer is not None
    real_sync = writer.sync
    seen: list[tuple[int, bool]] = []

    def observed_sync() -> None:
        seen.append((_committed_executions(runtime), pending.done()))
        real_sync()

    monkeypatch.setattr(writer, "sync", observed_sync)
    pending = asyncio.create_task(runtime.deliveries.record(_item(hook, "held")))
    assert await pending == [hook.id]
    assert seen == [(1, False)]  # committed before the sync; not answered until after it


async def test_a_batch_waits_for_a_write_lock_held_elsewhere_without_blocking_the_loop(
    runtime: Runtime, hook: HookEntry
):
    database = make_url(runtime.settings.database_url).database
    other = sqlite3.connect(database, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # as a worker's transaction would
    try:
        pending = asyncio.create_task(runtime.deliveries.record(_item(hook, "waits")))
        for _ in range(20):  # the event loop keeps turning while the batch waits
            await asyncio.sleep(0.01)
        assert not pending.done()
        assert _committed_executions(runtime) == 0
    finally:
        other.execute("COMMIT")
        other.close()
    assert await asyncio.wait_for(pending, 30) == [hook.id]
    assert _committed_executions(runtime) == 1


async def test_a_failed_fsync_answers_not_stored(
    runtime: Runtime, hook: HookEntry, monkeypatch: pytest.MonkeyPatch
):
    writer = runtime.deliveries._sqlite_writer
    assert writer is not None

    def broken_sync() -> None:
        raise OSError("disk gone")

    monkeypatch.setattr(writer, "sync", broken_sync)
    with pytest.raises(NotStored):
        await runtime.deliveries.record(_item(hook, "unsynced"))


async def test_sync_flushes_the_wal_file_with_fdatasync(
    runtime: Runtime, hook: HookEntry, monkeypatch: pytest.MonkeyPatch
):
    writer = runtime.deliveries._sqlite_writer
    assert writer is not None
    synced: list[str] = []
    real_fdatasync = os.fdatasync

    def recording_fdatasync(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fdatasync(fd)

    monkeypatch.setattr(os, "fdatasync", recording_fdatasync)
    assert await runtime.deliveries.record(_item(hook, "synced")) == [hook.id]
    assert synced and all(path.endswith(".db-wal") for path in synced)

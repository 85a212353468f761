"""Group commit of deliveries (ingress/batcher.py) on a real SQLite database."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from octipus.accounts import create_user
from octipus.config import Settings
from octipus.db.engine import upgrade_schema
from octipus.db.ids import new_id
from octipus.db.tables import Delivery, Execution, Hook
from octipus.hooks.cache import HookEntry
from octipus.ingress.accept import Accepted, Outcome
from octipus.ingress.batcher import NotStored
from octipus.ingress.verify import build_verifier
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


async def test_an_answer_waits_for_the_wal_fsync(
    runtime: Runtime, hook: HookEntry, monkeypatch: pytest.MonkeyPatch
):
    writer = runtime.deliveries._sqlite_writer
    assert writer is not None
    entered, release = threading.Event(), threading.Event()
    real_sync = writer.sync

    def held_sync() -> None:
        entered.set()
        release.wait(30)
        real_sync()

    monkeypatch.setattr(writer, "sync", held_sync)
    pending = asyncio.create_task(runtime.deliveries.record(_item(hook, "held")))
    assert await asyncio.to_thread(entered.wait, 30)
    assert not pending.done()
    assert await _count(runtime, Execution) == 1  # committed, not yet answered
    release.set()
    assert await pending == [hook.id]


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


async def test_a_batch_is_stored_while_the_previous_one_waits_for_its_fsync(
    runtime: Runtime, hook: HookEntry, monkeypatch: pytest.MonkeyPatch
):
    writer = runtime.deliveries._sqlite_writer
    assert writer is not None
    entered, release = threading.Event(), threading.Event()
    real_sync = writer.sync
    calls = []

    def first_sync_held() -> None:
        calls.append(1)
        if len(calls) == 1:
            entered.set()
            release.wait(30)
        real_sync()

    monkeypatch.setattr(writer, "sync", first_sync_held)
    first = asyncio.create_task(runtime.deliveries.record(_item(hook, "first")))
    assert await asyncio.to_thread(entered.wait, 30)
    assert await runtime.deliveries.record(_item(hook, "second")) == [hook.id]
    assert not first.done()
    release.set()
    assert await first == [hook.id]


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

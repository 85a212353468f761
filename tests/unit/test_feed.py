"""The deliveries feed behind `octipus listen` (ingress/feed.py) on a real SQLite database."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from octipus.accounts import create_user
from octipus.config import Settings
from octipus.db.engine import upgrade_schema
from octipus.db.ids import new_id
from octipus.db.tables import Delivery, Execution, Hook, User
from octipus.ingress.feed import LAG_SECONDS, Feed, first_id_at_epoch
from octipus.runtime import Runtime


@pytest.fixture
async def runtime(tmp_path: Path) -> AsyncIterator[Runtime]:
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/t.db", data_dir=tmp_path)
    runtime = Runtime.create(settings)
    await upgrade_schema(runtime.engine)
    yield runtime
    await runtime.close()


async def _user_with_hook(runtime: Runtime, name: str) -> tuple[User, str]:
    async with runtime.sessions.begin() as session:
        user = await create_user(session, name)
        hook = Hook(owner_id=user.id, name=name, webhook_path="p", action="webhook")
        session.add(hook)
        await session.flush()
        return user, hook.id


async def _store(runtime: Runtime, hook_id: str, delivery_id: str) -> None:
    """A delivery on path p that fired `hook_id`, with the given primary key."""
    async with runtime.sessions.begin() as session:
        session.add(Delivery(id=delivery_id, path="p", body=delivery_id.encode()))
        await session.flush()
        session.add(Execution(hook_id=hook_id, delivery_pk=delivery_id, action_type="webhook"))


async def _poll(feed: Feed) -> list[str]:
    return [event["id"] async for event in feed.poll()]


async def test_a_delivery_committed_after_a_later_one_is_still_read_once(runtime: Runtime):
    user, hook = await _user_with_hook(runtime, "alice")
    start = first_id_at_epoch(time.time() - 5)
    feed = Feed(runtime.read_sessions, user, "p", start)
    later = new_id()
    await _store(runtime, hook, later)
    assert await _poll(feed) == [later]

    earlier = first_id_at_epoch(time.time() - 2)[:12] + "ab" * 10  # its id taken before `later`
    await _store(runtime, hook, earlier)
    assert await _poll(feed) == [earlier]
    assert await _poll(feed) == []


async def test_only_the_readers_deliveries_come(runtime: Runtime):
    alice, alices_hook = await _user_with_hook(runtime, "alice")
    _, bobs_hook = await _user_with_hook(runtime, "bob")
    mine, theirs = new_id(), new_id()
    await _store(runtime, alices_hook, mine)
    await _store(runtime, bobs_hook, theirs)
    feed = Feed(runtime.read_sessions, alice, "p", first_id_at_epoch(0))
    assert await _poll(feed) == [mine]


async def test_a_backlog_longer_than_a_page_comes_whole_and_in_order(runtime: Runtime):
    user, hook = await _user_with_hook(runtime, "alice")
    old = time.time() - 10 * LAG_SECONDS
    ids = sorted(first_id_at_epoch(old + n / 1000)[:12] + f"{n:020x}" for n in range(450))
    for delivery in ids:
        await _store(runtime, hook, delivery)
    feed = Feed(runtime.read_sessions, user, "p", first_id_at_epoch(0))
    assert await _poll(feed) == ids
    assert await _poll(feed) == []

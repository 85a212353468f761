"""DatabaseThread: whole transactions on SQLite in a thread of their own, statements inline."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import AsyncIterator
from contextlib import closing
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from octipus.config import Settings
from octipus.db.connectors.sqlite import create_inline_engine
from octipus.db.thread import DatabaseThread


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[DatabaseThread]:
    settings = Settings(data_dir=tmp_path, database_url=f"sqlite+aiosqlite:///{tmp_path}/t.db")
    engine = create_inline_engine(settings)
    assert engine is not None
    thread = DatabaseThread(engine, name="test-db")
    await thread.transact(_create_table)
    yield thread
    await thread.close()


async def _create_table(session: AsyncSession) -> None:
    await session.execute(sa.text("create table items (name text primary key)"))


async def _insert(names: list[str], session: AsyncSession) -> str:
    for name in names:
        await session.execute(sa.text("insert into items values (:n)"), {"n": name})
    return threading.current_thread().name


async def _names(session: AsyncSession) -> list[str]:
    return list(await session.scalars(sa.text("select name from items order by name")))


async def test_a_transaction_runs_whole_on_the_database_thread_without_aiosqlite_threads(
    database: DatabaseThread,
):
    threads_before = threading.active_count()
    ran_on = await database.transact(lambda s: _insert(["a", "b"], s))
    assert ran_on == "test-db"
    assert threading.active_count() == threads_before  # statements ran inline, no new threads
    assert await database.transact(_names) == ["a", "b"]


async def test_a_failing_transaction_is_rolled_back_and_its_error_reaches_the_caller(
    database: DatabaseThread,
):
    await database.transact(lambda s: _insert(["a"], s))
    with pytest.raises(IntegrityError):
        await database.transact(lambda s: _insert(["b", "a"], s))
    assert await database.transact(_names) == ["a"]


async def test_closing_stops_the_thread(tmp_path: Path):
    settings = Settings(data_dir=tmp_path, database_url=f"sqlite+aiosqlite:///{tmp_path}/t.db")
    engine = create_inline_engine(settings)
    assert engine is not None
    thread = DatabaseThread(engine, name="closing-db")
    await thread.transact(_create_table)
    await thread.close()
    assert "closing-db" not in {t.name for t in threading.enumerate()}


async def test_after_commit_runs_after_each_committed_transaction_only(tmp_path: Path):
    settings = Settings(data_dir=tmp_path, database_url=f"sqlite+aiosqlite:///{tmp_path}/t.db")
    engine = create_inline_engine(settings)
    assert engine is not None
    seen: list[list[str]] = []
    thread = DatabaseThread(engine, after_commit=lambda: seen.append(_committed(tmp_path)))
    try:
        await thread.transact(_create_table)
        await thread.transact(lambda s: _insert(["a"], s))
        with pytest.raises(IntegrityError):
            await thread.transact(lambda s: _insert(["a"], s))
    finally:
        await thread.close()
    assert seen == [[], ["a"]]  # each saw its own commit; the failed one ran nothing


def _committed(folder: Path) -> list[str]:
    """What another connection reads: the commit happened before `after_commit`."""
    with closing(sqlite3.connect(folder / "t.db")) as db:
        return [name for (name,) in db.execute("select name from items order by name")]


@pytest.fixture
async def with_on_loop(tmp_path: Path) -> AsyncIterator[DatabaseThread]:
    settings = Settings(data_dir=tmp_path, database_url=f"sqlite+aiosqlite:///{tmp_path}/t.db")
    engine = create_inline_engine(settings)
    on_loop = create_inline_engine(settings, wait=False)
    assert engine is not None and on_loop is not None
    thread = DatabaseThread(engine, name="test-db", on_loop=on_loop)
    await thread.transact(_create_table)
    yield thread
    await thread.close()


async def test_with_an_on_loop_engine_a_transaction_runs_on_the_callers_thread(
    with_on_loop: DatabaseThread,
):
    ran_on = await with_on_loop.transact(lambda s: _insert(["a"], s))
    assert ran_on == threading.current_thread().name
    assert await with_on_loop.transact(_names) == ["a"]


async def test_when_the_write_lock_is_held_the_transaction_waits_for_it_in_the_thread(
    with_on_loop: DatabaseThread, tmp_path: Path
):
    other = sqlite3.connect(tmp_path / "t.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        pending = asyncio.create_task(with_on_loop.transact(lambda s: _insert(["a"], s)))
        for _ in range(20):  # the caller's loop keeps turning while the transaction waits
            await asyncio.sleep(0.01)
        assert not pending.done()
    finally:
        other.execute("COMMIT")
        other.close()
    assert await asyncio.wait_for(pending, 30) == "test-db"
    assert _committed(tmp_path) == ["a"]

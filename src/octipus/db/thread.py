"""Transactions on SQLite run whole in a thread of their own: one hop from the event loop each.

Through aiosqlite every statement costs about four hops between the event loop and aiosqlite's
thread (cursor, execute, fetch, close), each waiting for a loop that is also running actions: a
worker round of ~10 statements took ~9 ms while forwards were in flight (bench/README.md).
`DatabaseThread` runs a coroutine on an event loop in its own thread, over an engine whose
aiosqlite connections run each call at once on that thread (`InlineConnection`), so a whole
transaction costs the caller one hop. Blocking there (SQLite's lock, a commit's fsync) blocks no
one else.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Awaitable, Callable, Coroutine, Generator
from functools import partial
from typing import Any, TypeVar

import aiosqlite
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

T = TypeVar("T")
Call = tuple["asyncio.Future[Any] | None", Callable[[], Any]]


class _RunAtOnce:
    """Stands in for aiosqlite's queue to its thread: each call runs when it is queued."""

    def put_nowait(self, item: Call) -> None:
        future, call = item
        try:
            result = call()
        except BaseException as exc:
            if future is not None:
                future.set_exception(exc)
            return
        if future is not None:
            future.set_result(result)


class InlineConnection(aiosqlite.Connection):
    """An aiosqlite connection that runs every call on the calling thread, with no thread of
    its own: for a loop that may block, such as DatabaseThread's."""

    def __init__(self, connector: Callable[[], sqlite3.Connection]) -> None:
        super().__init__(connector, iter_chunk_size=64)
        self._tx = _RunAtOnce()  # type: ignore[assignment]

    def __await__(self) -> Generator[Any, None, aiosqlite.Connection]:
        return self._connect().__await__()  # without starting aiosqlite's thread


def inline_connect(database: str) -> InlineConnection:
    """`async_creator` for create_async_engine: a connection to the SQLite file `database`."""
    return InlineConnection(partial(sqlite3.connect, database, check_same_thread=False))


class DatabaseThread:
    """Runs transactions on `engine` (built with `inline_connect`) in a thread of its own;
    `after_commit` runs there after each commit, before the caller is answered."""

    def __init__(
        self,
        engine: AsyncEngine,
        name: str = "octipus-db",
        after_commit: Callable[[], None] | None = None,
    ):
        self._engine = engine
        self._after_commit = after_commit  # e.g. sync the WAL, outside SQLite's write lock
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=name, daemon=True)
        self._thread.start()

    async def transact(self, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
        """`work(session)` inside one transaction, committed when it returns."""
        return await self._run(self._transaction(work))

    async def _transaction(self, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
        async with self._sessions.begin() as session:
            result = await work(session)
        if self._after_commit is not None:
            self._after_commit()
        return result

    async def _run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coroutine, self._loop))

    async def close(self) -> None:
        """Close the engine's connections, then stop the thread."""
        await self._run(self._engine.dispose())
        self._loop.call_soon_threadsafe(self._loop.stop)
        await asyncio.to_thread(self._thread.join)
        self._loop.close()

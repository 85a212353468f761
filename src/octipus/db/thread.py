"""Transactions on SQLite run whole on one thread: the caller's event loop's when they can, else
a thread of their own. Either way one transaction costs the caller at most one hop.

Through aiosqlite every statement costs about four hops between the event loop and aiosqlite's
thread (cursor, execute, fetch, close), each waiting for a loop that is also running actions: a
worker round of ~10 statements took ~9 ms while forwards were in flight (bench/README.md).
`DatabaseThread` runs a transaction over an engine whose aiosqlite connections run each call at
once on the calling thread (`InlineConnection`). Given an `on_loop` engine that never waits for
SQLite's write lock, it first runs the transaction on the caller's own loop, where it costs no hop
and no GIL hand-off; when that `BEGIN` finds the lock held (an ingress batch, an API write), the
transaction runs on the thread's own event loop instead, where waiting for the lock (or a
commit's fsync) blocks no one else.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Awaitable, Callable, Coroutine, Generator
from functools import partial
from typing import Any, TypeVar

import aiosqlite
from sqlalchemy.exc import OperationalError
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


class _LockHeld(Exception):
    """SQLite's write lock was held when a transaction on the caller's loop began."""


def is_busy(error: BaseException | None) -> bool:
    """True for SQLite's "database is locked": SQLITE_BUSY and its extended codes."""
    return isinstance(error, sqlite3.OperationalError) and (
        error.sqlite_errorcode & 0xFF == sqlite3.SQLITE_BUSY
    )


class DatabaseThread:
    """Runs transactions on `engine` (built with `inline_connect`) in a thread of its own, or
    first on the caller's loop over `on_loop` (built the same way, with `wait=False`);
    `after_commit` runs after each commit, before the caller is answered."""

    def __init__(
        self,
        engine: AsyncEngine,
        name: str = "octipus-db",
        after_commit: Callable[[], None] | None = None,
        on_loop: AsyncEngine | None = None,
    ):
        self._engine = engine
        self._after_commit = after_commit  # e.g. sync the WAL, outside SQLite's write lock
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)
        self._on_loop = on_loop
        self._loop_sessions = (
            async_sessionmaker(on_loop, expire_on_commit=False) if on_loop is not None else None
        )
        self._on_loop_busy = False  # one transaction at a time on the caller's loop
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=name, daemon=True)
        self._thread.start()

    async def transact(self, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
        """`work(session)` inside one transaction, committed when it returns.

        `work` runs only once SQLite's write lock is held: on the caller's loop when it was free
        there, otherwise in the thread."""
        if self._loop_sessions is not None and not self._on_loop_busy:
            self._on_loop_busy = True
            try:
                return await self._transaction(self._loop_sessions, work, on_loop=True)
            except _LockHeld:
                pass
            finally:
                self._on_loop_busy = False
        return await self._run(self._transaction(self._sessions, work, on_loop=False))

    async def _transaction(
        self,
        sessions: async_sessionmaker[AsyncSession],
        work: Callable[[AsyncSession], Awaitable[T]],
        on_loop: bool,
    ) -> T:
        async with sessions.begin() as session:
            try:
                await session.connection()  # BEGIN IMMEDIATE, before `work` runs
            except OperationalError as exc:
                if on_loop and is_busy(exc.orig):
                    raise _LockHeld from exc
                raise
            result = await work(session)
        if self._after_commit is not None:
            self._after_commit()
        return result

    async def _run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coroutine, self._loop))

    async def close(self) -> None:
        """Close the engines' connections, then stop the thread."""
        if self._on_loop is not None:
            await self._on_loop.dispose()
        await self._run(self._engine.dispose())
        self._loop.call_soon_threadsafe(self._loop.stop)
        await asyncio.to_thread(self._thread.join)
        self._loop.close()

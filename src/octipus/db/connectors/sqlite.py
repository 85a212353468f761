"""SQLite's connector: one file, WAL, one writer at a time, every process on this machine.

Connections begin IMMEDIATE (they queue for the write lock instead of failing) unless marked
READ_ONLY. Commits that skip SQLite's own fsync (synchronous=NORMAL) sync the WAL afterwards,
outside the write lock (`sync_wal`). There is no LISTEN/NOTIFY: the processes serving the port
wake the main process's workers through a pipe (serving/shared.py), and hook changes bump a
shared counter. The leader lock is an `flock` beside the database; claims and hook rows need no
lock of their own (the write lock serializes writers); nor does the schema (migrations and the
first admin each run in one IMMEDIATE transaction).
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine

from octipus.config import Settings
from octipus.db.engine import JSON_CODEC
from octipus.db.thread import DatabaseThread, inline_connect

if TYPE_CHECKING:
    from octipus.db.connectors import Listening

_SYNCHRONOUS = {"full": "FULL", "normal": "NORMAL"}


def _prepare(engine: Engine, synchronous: str) -> None:
    """WAL, a busy timeout, and BEGIN IMMEDIATE so concurrent writers queue instead of failing.

    Connections marked READ_ONLY (db/engine.py) begin DEFERRED instead: in WAL mode readers
    never block.
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={_SYNCHRONOUS[synchronous]}")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        read_only = conn.get_execution_options().get("octipus_read_only")
        conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


def _never_wait(dbapi_conn: Any, _record: Any) -> None:
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA busy_timeout=0")  # after _prepare's own connect handler
    cursor.close()


def sqlite_url(settings: Settings) -> URL:
    """The SQLite URL of `settings`, its folder created."""
    url = make_url(settings.database_url)
    if url.database and url.database != ":memory:":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    return url


def sync_wal(database: str) -> None:
    """fdatasync the WAL of the SQLite file `database`: every transaction committed before this
    call is then durable.

    Connections that commit with synchronous=NORMAL (no sync) call this after their commit, so
    their commits survive a power loss as with synchronous=FULL, but outside SQLite's write lock.
    fdatasync, as SQLite itself uses on Linux: it flushes the data and the file's size, but not
    its modification time, so a WAL rewritten in place after a checkpoint needs no filesystem
    journal commit, which on a busy disk can stall for 100 ms or more (bench/README.md).
    """
    fd = os.open(f"{database}-wal", os.O_RDONLY)
    try:
        os.fdatasync(fd)
    finally:
        os.close(fd)


def create_inline_engine(settings: Settings, wait: bool = True) -> AsyncEngine | None:
    """An async engine on the SQLite file whose statements run on the calling thread (for
    db/thread.py's DatabaseThread, which runs whole transactions there); None in memory.

    It commits with synchronous=NORMAL: with OCTIPUS_SQLITE_SYNCHRONOUS=full its user syncs the
    WAL after each commit (`sync_wal`), outside the write lock. With `wait` false its `BEGIN`
    fails at once ("database is locked") when another connection holds the write lock, instead of
    sleeping in SQLite's busy handler: for transactions tried on an event loop's own thread.
    """
    database = settings.sqlite_file
    if database is None:
        return None
    engine = create_async_engine(
        sqlite_url(settings),
        async_creator=partial(inline_connect, database),
        pool_size=1,
        max_overflow=0,
        **JSON_CODEC,
    )
    _prepare(engine.sync_engine, "normal")
    if not wait:
        event.listen(engine.sync_engine, "connect", _never_wait)
    return engine


def create_writer_engine(settings: Settings) -> Engine | None:
    """A blocking engine on the SQLite file for the ingress writer of a serving process (None
    in memory).

    The ingress writes whole batches through it in one thread hop instead of one per statement.
    Its commits do not fsync (synchronous=NORMAL): the ingress fsyncs the WAL itself before it
    answers, outside the write lock (ingress/sqlite_writer.py), unless
    OCTIPUS_SQLITE_SYNCHRONOUS=normal.
    """
    if settings.sqlite_file is None:
        return None
    url = sqlite_url(settings).set(drivername="sqlite")
    engine = sa.create_engine(url, pool_size=1, max_overflow=0, **JSON_CODEC)
    _prepare(engine, "normal")
    event.listen(engine, "connect", _never_wait)  # its batches are tried on the event loop
    return engine


def sqlite_dialect() -> sa.Dialect:
    """SQLite's dialect as the engines above configure it (JSON encoded alike), unconnected."""
    return sa.create_engine("sqlite://", **JSON_CODEC).dialect


class FileLeaderLock:
    """An exclusive `flock` on a file beside the SQLite database (no file: always granted);
    the kernel releases it when its holder dies."""

    def __init__(self, path: Path | None):
        self._path = path
        self._fd: int | None = None

    async def acquire(self) -> bool:
        if self._path is None:
            return True
        fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    async def held(self) -> bool:
        return True

    async def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def qmark(_index: int) -> str:
    """SQLite's positional placeholder (the same for every parameter)."""
    return "?"


class SQLiteConnector:
    """SQLite (the embedded default)."""

    name = "sqlite"
    row_locks = False
    shared_by_nodes = False

    def placeholder(self, index: int) -> str:
        return qmark(index)

    def create_engine(self, settings: Settings) -> AsyncEngine:
        engine = create_async_engine(
            sqlite_url(settings), pool_size=5, max_overflow=5, **JSON_CODEC
        )
        _prepare(engine.sync_engine, settings.sqlite_synchronous)
        return engine

    @asynccontextmanager
    async def schema_lock(self, engine: AsyncEngine) -> AsyncIterator[None]:
        """None needed: migrations and the first admin each hold SQLite's write lock."""
        yield

    def leader_lock(self, settings: Settings) -> FileLeaderLock:
        database = settings.sqlite_file
        return FileLeaderLock(Path(f"{database}-leader") if database else None)

    def worker_database(self, settings: Settings, name: str) -> DatabaseThread | None:
        """Transactions run on the worker's loop when SQLite's write lock is free, else on a
        thread of their own; with OCTIPUS_SQLITE_SYNCHRONOUS=full the WAL is synced after each
        commit (db/thread.py)."""
        engine = create_inline_engine(settings)
        if engine is None:
            return None
        assert engine.url.database
        synced = settings.sqlite_synchronous == "full"
        return DatabaseThread(
            engine,
            name=name,
            after_commit=partial(sync_wal, engine.url.database) if synced else None,
            on_loop=create_inline_engine(settings, wait=False),
        )

    def ingress_engine(self, settings: Settings) -> Engine | None:
        return create_writer_engine(settings)

    async def notify(self, session: AsyncSession, channel: str) -> None:
        """No-op: the processes that can write this file wake each other directly."""

    def notify_sync(self, connection: Connection, channel: str) -> None:
        """No-op, as `notify`."""

    def listen(
        self,
        database_url: str,
        channel: str,
        on_notify: Callable[[], None],
        on_connected: Callable[[], None] | None = None,
        on_lost: Callable[[], None] | None = None,
    ) -> Listening | None:
        return None

    async def lock_for_claim(self, session: AsyncSession, hook_ids: Sequence[str]) -> bool:
        return False  # the claim's transaction holds the write lock: its counts stay exact

    async def lock_hook_rows(self, session: AsyncSession, hook_ids: Sequence[str]) -> None:
        """No-op: one writer at a time."""

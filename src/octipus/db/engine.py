"""Engine and sessions for SQLite (embedded default) and PostgreSQL, and schema upgrades."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from octipus.config import Settings
from octipus.db.thread import inline_connect

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def _json_dumps(value: Any) -> str:
    """JSON columns are written with orjson; what it refuses (ints past 64 bits) by the stdlib."""
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
    except orjson.JSONEncodeError:
        return json.dumps(value)


JSON_CODEC: dict[str, Any] = {"json_serializer": _json_dumps}


_SYNCHRONOUS = {"full": "FULL", "normal": "NORMAL"}

READ_ONLY: dict[str, Any] = {"octipus_read_only": True}
"""Connection execution options for a transaction that only reads: on SQLite it begins DEFERRED
and so never waits for (or holds) the write lock. Never write on such a connection."""


def _prepare_sqlite(engine: Engine, synchronous: str) -> None:
    """WAL, a busy timeout, and BEGIN IMMEDIATE so concurrent writers queue instead of failing.

    Connections marked READ_ONLY begin DEFERRED instead: in WAL mode readers never block.
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


def _sqlite_url(settings: Settings) -> URL | None:
    """The SQLite URL of `settings` (its folder created), or None for another database."""
    url = make_url(settings.database_url)
    if url.get_backend_name() != "sqlite":
        return None
    if url.database and url.database != ":memory:":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    return url


def create_engine(settings: Settings) -> AsyncEngine:
    """An async engine for `settings.database_url`, creating SQLite's folder when needed."""
    url = _sqlite_url(settings)
    if url is not None:
        engine = create_async_engine(url, pool_size=5, max_overflow=5, **JSON_CODEC)
        _prepare_sqlite(engine.sync_engine, settings.sqlite_synchronous)
        return engine
    return create_async_engine(
        settings.database_url, pool_size=10, max_overflow=10, pool_pre_ping=True, **JSON_CODEC
    )


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


def create_inline_sqlite_engine(settings: Settings, wait: bool = True) -> AsyncEngine | None:
    """An async engine on the same SQLite file whose statements run on the calling thread (for
    db/thread.py's DatabaseThread, which runs whole transactions there); None otherwise.

    It commits with synchronous=NORMAL: with OCTIPUS_SQLITE_SYNCHRONOUS=full its user syncs the
    WAL after each commit (`sync_wal`), outside the write lock. With `wait` false its `BEGIN`
    fails at once ("database is locked") when another connection holds the write lock, instead of
    sleeping in SQLite's busy handler: for transactions tried on an event loop's own thread.
    """
    url, database = _sqlite_url(settings), settings.sqlite_file
    if url is None or database is None:
        return None
    engine = create_async_engine(
        url,
        async_creator=partial(inline_connect, database),
        pool_size=1,
        max_overflow=0,
        **JSON_CODEC,
    )
    _prepare_sqlite(engine.sync_engine, "normal")
    if not wait:
        event.listen(engine.sync_engine, "connect", _never_wait)
    return engine


def _never_wait(dbapi_conn: Any, _record: Any) -> None:
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA busy_timeout=0")  # after _prepare_sqlite's own connect handler
    cursor.close()


def create_sqlite_writer(settings: Settings) -> Engine | None:
    """A blocking engine on the same SQLite file for the ingress writer thread (None otherwise).

    The ingress writes whole batches through it in one thread hop instead of one per statement.
    Its commits do not fsync (synchronous=NORMAL): the ingress fsyncs the WAL itself before it
    answers, outside the write lock (ingress/batcher.py), unless OCTIPUS_SQLITE_SYNCHRONOUS=normal.
    """
    url = _sqlite_url(settings)
    if url is None or settings.sqlite_file is None:
        return None
    engine = sa.create_engine(
        url.set(drivername="sqlite"), pool_size=1, max_overflow=0, **JSON_CODEC
    )
    _prepare_sqlite(engine, "normal")
    event.listen(engine, "connect", _never_wait)  # its batches are tried on the event loop
    return engine


def sqlite_dialect() -> sa.Dialect:
    """SQLite's dialect as the engines above configure it (JSON encoded alike), unconnected."""
    return sa.create_engine("sqlite://", **JSON_CODEC).dialect


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


# PostgreSQL session advisory lock held while one process migrates and creates the first admin.
# (The queue's claim lock is queue/queries.py CLAIM_LOCK_KEY; the leader's, cluster/leader.py.)
SCHEMA_LOCK_KEY = 0x6F637469707573 + 1


@asynccontextmanager
async def schema_lock(engine: AsyncEngine) -> AsyncIterator[None]:
    """Hold the schema lock: any number of nodes (and `octipus db upgrade`) may start at once,
    one migrates while the others wait, then find the schema at head.

    On PostgreSQL a session advisory lock on a connection of its own, which is closed (not
    returned to the pool) afterwards, so the lock ends with it whatever happens, a crash
    included. SQLite needs none: migrations and the first admin each run in one transaction
    that begins IMMEDIATE, i.e. holding SQLite's write lock.
    """
    if engine.dialect.name != "postgresql":
        yield
        return
    async with engine.connect() as conn:
        try:
            await conn.execute(sa.select(sa.func.pg_advisory_lock(SCHEMA_LOCK_KEY)))
            await conn.commit()
            yield
        finally:
            await conn.invalidate()


async def upgrade_schema(engine: AsyncEngine) -> None:
    """Apply every Alembic migration up to head on this engine's database (callers on
    PostgreSQL hold `schema_lock`)."""
    from alembic import command
    from alembic.config import Config

    def _run(sync_conn: Any) -> None:
        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
        cfg.attributes["connection"] = sync_conn
        command.upgrade(cfg, "head")

    async with engine.begin() as conn:
        await conn.run_sync(_run)

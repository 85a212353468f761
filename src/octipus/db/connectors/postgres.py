"""PostgreSQL's connector: a pool for statements, dedicated connections for what lives as long
as one connection (LISTEN registrations, session advisory locks), advisory locks for claims.

Advisory lock keys: the schema lock and the leader lock are session locks on keys of their own;
a claimer of a capped hook holds a transaction lock (HOOK_LOCK_NAMESPACE, `hook_lock_key`) from
counting the hook's running rows until it commits, so the cap holds across workers while
claimers of other hooks never wait. Lock order in every transaction: claim locks (key order),
then hook rows (id order), so no deadlock cycle can form.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine

from octipus.background import TaskService
from octipus.config import Settings
from octipus.db.engine import JSON_CODEC
from octipus.db.tables import Hook
from octipus.db.thread import DatabaseThread

log = logging.getLogger(__name__)

_BASE_KEY = 0x6F637469707573  # "octipus"
SCHEMA_LOCK_KEY = _BASE_KEY + 1  # session lock: one process migrates, the others wait
LEADER_LOCK_KEY = _BASE_KEY + 2  # session lock: its holder is the leader (cluster/leader.py)
HOOK_LOCK_NAMESPACE = 0x6F637469  # "octi": the first key of the per-hook claim locks
RECHECK_SECONDS = 2.0  # how often a LISTEN or leader connection is checked (and re-made)

_HOOKS = cast(sa.Table, Hook.__table__)
_HOOK_LOCK = sa.select(
    sa.func.pg_advisory_xact_lock(
        sa.bindparam("ns", HOOK_LOCK_NAMESPACE, type_=sa.Integer),
        sa.bindparam("key", type_=sa.Integer),
    )
)


async def connect_dedicated(database_url: str, purpose: str) -> Any:
    """An asyncpg connection outside the pool to the database of `database_url` (an SQLAlchemy
    URL), named `octipus-<purpose>` in pg_stat_activity. When the process dies, the server
    closes it and ends its LISTENs and session locks."""
    import asyncpg

    url = make_url(database_url).set(drivername="postgresql")
    return await asyncpg.connect(
        url.render_as_string(hide_password=False),
        server_settings={"application_name": f"octipus-{purpose}"},
    )


def hook_lock_key(hook_id: str) -> int:
    """The hook's claim lock key: a signed 32-bit hash of its id (a clash only serializes)."""
    digest = hashlib.blake2b(hook_id.encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big", signed=True)


def _notify_statement(channel: str) -> sa.Select[Any]:
    return sa.select(sa.func.pg_notify(channel, ""))


class Listener(TaskService):
    """LISTEN on `channel` over a dedicated connection, checked every RECHECK_SECONDS and made
    again when lost; `on_connected` runs each time it listens (again), `on_lost` when it stops
    (notifications may have been missed in between)."""

    def __init__(
        self,
        database_url: str,
        channel: str,
        on_notify: Callable[[], None],
        on_connected: Callable[[], None] | None,
        on_lost: Callable[[], None] | None,
    ):
        self._url = database_url
        self._channel = channel
        self._on_notify = on_notify
        self._on_connected = on_connected
        self._on_lost = on_lost
        self._conn: Any = None  # asyncpg.Connection
        super().__init__()
        self.name = f"listen {channel}"

    async def start(self) -> None:
        await self._listen()  # the first connection before serving; retried below if it fails
        await super().start()

    async def stop(self) -> None:
        await super().stop()
        self._lost()

    async def run(self) -> None:
        while True:
            await asyncio.sleep(RECHECK_SECONDS)
            if self._conn is not None:
                try:
                    await self._conn.fetchval("SELECT 1", timeout=RECHECK_SECONDS)
                except Exception:  # whatever broke it, notifications may be missed from now on
                    log.warning("LISTEN lost; retrying", extra={"channel": self._channel})
                    self._lost()
            if self._conn is None:
                await self._listen()

    async def _listen(self) -> None:
        purpose = self._channel.removeprefix("octipus_")
        try:
            conn = await connect_dedicated(self._url, f"listen-{purpose}")
            await conn.add_listener(self._channel, self._notified)
        except Exception:  # the database may be away: pollers and TTLs cover the gap
            log.warning("cannot LISTEN; retrying", extra={"channel": self._channel}, exc_info=True)
            return
        conn.add_termination_listener(lambda _conn: self._lost())
        self._conn = conn
        if self._on_connected is not None:
            self._on_connected()

    def _notified(self, *_: object) -> None:
        self._on_notify()

    def _lost(self) -> None:
        if self._on_lost is not None:
            self._on_lost()
        if self._conn is not None:
            conn, self._conn = self._conn, None
            conn.terminate()


class PostgresLeaderLock:
    """`pg_try_advisory_lock` on a dedicated connection; the lock lives as long as it does."""

    def __init__(self, database_url: str):
        self._url = database_url
        self._conn: Any = None  # asyncpg.Connection

    async def acquire(self) -> bool:
        if self._conn is None or self._conn.is_closed():
            self._conn = await connect_dedicated(self._url, "leader")
        return bool(await self._conn.fetchval("SELECT pg_try_advisory_lock($1)", LEADER_LOCK_KEY))

    async def held(self) -> bool:
        try:
            await self._conn.fetchval("SELECT 1", timeout=RECHECK_SECONDS)
        except Exception:  # whatever broke the connection, its lock is gone with it
            await self.release()
            return False
        return True

    async def release(self) -> None:
        if self._conn is not None:
            self._conn.terminate()  # the lock ends with the connection
            self._conn = None


class PostgresConnector:
    """PostgreSQL (several nodes on one database)."""

    name = "postgresql"
    row_locks = True
    shared_by_nodes = True

    def placeholder(self, index: int) -> str:
        return f"${index + 1}"

    def create_engine(self, settings: Settings) -> AsyncEngine:
        return create_async_engine(
            settings.database_url, pool_size=10, max_overflow=10, pool_pre_ping=True, **JSON_CODEC
        )

    @asynccontextmanager
    async def schema_lock(self, engine: AsyncEngine) -> AsyncIterator[None]:
        """A session advisory lock on a connection of its own, closed (not returned to the
        pool) afterwards, so the lock ends with it whatever happens, a crash included: any
        number of nodes (and `octipus db upgrade`) may start at once."""
        async with engine.connect() as conn:
            try:
                await conn.execute(sa.select(sa.func.pg_advisory_lock(SCHEMA_LOCK_KEY)))
                await conn.commit()
                yield
            finally:
                await conn.invalidate()

    def leader_lock(self, settings: Settings) -> PostgresLeaderLock:
        return PostgresLeaderLock(settings.database_url)

    def worker_database(self, settings: Settings, name: str) -> DatabaseThread | None:
        return None  # the pool's sessions

    def ingress_engine(self, settings: Settings) -> Engine | None:
        return None  # the ingress writes through the async engine

    async def notify(self, session: AsyncSession, channel: str) -> None:
        """Delivered to listeners when this transaction commits (never if it rolls back)."""
        await session.execute(_notify_statement(channel))

    def notify_sync(self, connection: Connection, channel: str) -> None:
        connection.execute(_notify_statement(channel))

    def listen(
        self,
        database_url: str,
        channel: str,
        on_notify: Callable[[], None],
        on_connected: Callable[[], None] | None = None,
        on_lost: Callable[[], None] | None = None,
    ) -> Listener:
        return Listener(database_url, channel, on_notify, on_connected, on_lost)

    async def lock_for_claim(self, session: AsyncSession, hook_ids: Sequence[str]) -> bool:
        """Transaction advisory locks on the hooks' keys, in key order."""
        for key in sorted({hook_lock_key(hook_id) for hook_id in hook_ids}):
            await session.execute(_HOOK_LOCK, {"key": key})
        return bool(hook_ids)

    async def lock_hook_rows(self, session: AsyncSession, hook_ids: Sequence[str]) -> None:
        """FOR NO KEY UPDATE on the hooks' rows, in id order."""
        if hook_ids:
            await session.execute(
                sa.select(_HOOKS.c.id)
                .where(_HOOKS.c.id.in_(sorted(hook_ids)))
                .order_by(_HOOKS.c.id)
                .with_for_update(key_share=True)
            )

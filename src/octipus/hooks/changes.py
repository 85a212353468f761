"""Hook changes reach every node at once (PostgreSQL): each write NOTIFYs, every node LISTENs.

Every write of a hook row through the ORM (create, update, toggle, delete: the API through
hooks/service.py) sends `NOTIFY octipus_hooks` on the writing transaction's own connection, so
PostgreSQL delivers it when that transaction commits, and never for one rolled back. The
queue's counters (`execution_count`, `last_error`) are Core updates and notify no one.

Each process's `HookChangeListener` keeps a connection of its own LISTENing and clears its hook
cache on every notification. When that connection is lost, the cache serves by its TTL again
until the listener is back (it retries every `RECHECK_SECONDS`), and clears it once more then,
since changes made meanwhile were not heard.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection

from octipus.db.dedicated import connect_dedicated
from octipus.db.tables import Hook
from octipus.hooks.cache import HookCache

log = logging.getLogger(__name__)

HOOK_CHANNEL = "octipus_hooks"
NOTIFY_HOOK_CHANGE = sa.select(sa.func.pg_notify(HOOK_CHANNEL, ""))
RECHECK_SECONDS = 2.0  # how often the listening connection is checked (and re-made when lost)


@event.listens_for(Hook, "after_insert")
@event.listens_for(Hook, "after_update")
@event.listens_for(Hook, "after_delete")
def _notify_hook_change(_mapper: Any, connection: Connection, _hook: Hook) -> None:
    """NOTIFY in the transaction that writes the hook (PostgreSQL; SQLite has one machine)."""
    if connection.dialect.name == "postgresql":
        connection.execute(NOTIFY_HOOK_CHANGE)


class HookChangeListener:
    """Clears `cache` on every hook change any node commits, while a LISTEN connection holds."""

    def __init__(self, database_url: str, cache: HookCache):
        self._url = database_url
        self._cache = cache
        self._conn: Any = None  # asyncpg.Connection
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self._listen()  # the first connection before serving; retried below if it fails
        self._task = asyncio.create_task(self._keep_listening(), name="hook-change-listener")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._lost()

    async def _keep_listening(self) -> None:
        while True:
            await asyncio.sleep(RECHECK_SECONDS)
            if self._conn is not None:
                try:
                    await self._conn.fetchval("SELECT 1", timeout=RECHECK_SECONDS)
                except Exception:  # whatever broke it, notifications may be missed from now on
                    log.warning("hook change listener lost; hooks refresh by TTL until back")
                    self._lost()
            if self._conn is None:
                await self._listen()

    async def _listen(self) -> None:
        try:
            conn = await connect_dedicated(self._url, "hook-changes")
            await conn.add_listener(HOOK_CHANNEL, self._notified)
        except Exception:  # the database may be away: the cache serves by TTL meanwhile
            log.warning("cannot LISTEN for hook changes; retrying", exc_info=True)
            return
        conn.add_termination_listener(lambda _conn: self._lost())
        self._conn = conn
        self._cache.forget()  # what changed while nobody listened
        self._cache.pushed = True

    def _notified(self, *_: object) -> None:
        self._cache.forget()

    def _lost(self) -> None:
        self._cache.pushed = False
        if self._conn is not None:
            conn, self._conn = self._conn, None
            conn.terminate()

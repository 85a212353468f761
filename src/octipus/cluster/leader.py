"""Singletons on exactly one node: the leader runs the channel pollers and the periodic jobs.

Every `octipus serve` (its main process) and `octipus worker` campaigns. On PostgreSQL the
leader is the process holding a session advisory lock on a connection of its own: when the
leader dies, the server closes that connection and releases the lock, and another node's next
try (every `CAMPAIGN_SECONDS`) takes over. On SQLite (one machine) an exclusive file lock beside
the database plays the same part, released by the kernel when its holder dies.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from octipus.config import Settings
from octipus.db.dedicated import connect_dedicated

if TYPE_CHECKING:
    from octipus.app import BackgroundService

log = logging.getLogger(__name__)

# PostgreSQL advisory lock key (beside queue/queries.py CLAIM_LOCK_KEY and db/engine.py's).
LEADER_LOCK_KEY = 0x6F637469707573 + 2
CAMPAIGN_SECONDS = 2.0  # how often a follower tries the lock, and the leader checks it holds it


class LeaderLock(Protocol):
    """The lock whose holder is the leader."""

    async def acquire(self) -> bool:
        """Try once, without waiting: True when this process now holds it."""
        ...

    async def held(self) -> bool:
        """Whether this process still holds it (False: it was lost)."""
        ...

    async def release(self) -> None: ...


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
            await self._conn.fetchval("SELECT 1", timeout=CAMPAIGN_SECONDS)
        except Exception:  # whatever broke the connection, its lock is gone with it
            await self.release()
            return False
        return True

    async def release(self) -> None:
        if self._conn is not None:
            self._conn.terminate()  # the lock ends with the connection
            self._conn = None


class FileLeaderLock:
    """An exclusive `flock` on a file beside the SQLite database (no file: always granted)."""

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


def leader_lock(settings: Settings) -> LeaderLock:
    """The leader lock for `settings.database_url`."""
    if not settings.is_sqlite:
        return PostgresLeaderLock(settings.database_url)
    database = settings.sqlite_file
    return FileLeaderLock(Path(f"{database}-leader") if database else None)


class Leadership:
    """Campaigns for the leader lock and runs `on_elected` services while it holds it."""

    def __init__(self, lock: LeaderLock, on_elected: list[BackgroundService]):
        self.lock = lock
        self.on_elected = on_elected
        self.leading = False
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._campaign(), name="leadership")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self._step_down()

    async def _campaign(self) -> None:
        while True:
            try:
                if not self.leading and await self.lock.acquire():
                    await self._take_over()
                elif self.leading and not await self.lock.held():
                    log.warning("leadership lost; stopping the leader's services")
                    await self._step_down()
            except Exception:  # the database may be briefly away: the next campaign retries
                log.warning("leader election failed; retrying", exc_info=True)
            await asyncio.sleep(CAMPAIGN_SECONDS)

    async def _take_over(self) -> None:
        self.leading = True
        log.info("elected leader", extra={"services": [type(s).__name__ for s in self.on_elected]})
        for service in self.on_elected:
            await service.start()

    async def _step_down(self) -> None:
        if self.leading:
            self.leading = False
            for service in reversed(self.on_elected):
                await service.stop()
        await self.lock.release()

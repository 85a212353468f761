"""Singletons on exactly one node: the leader runs the channel pollers and the periodic jobs.

Every `octipus serve` (its main process) and `octipus worker` campaigns for the leader lock its
database's connector provides (db/connectors/): on PostgreSQL a session advisory lock on a
connection of its own, released by the server when the leader dies; on SQLite (one machine) an
exclusive file lock beside the database, released by the kernel. Another node's next try (every
`CAMPAIGN_SECONDS`) takes over.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Protocol

from octipus.background import TaskService

if TYPE_CHECKING:
    from octipus.app import BackgroundService

log = logging.getLogger(__name__)

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


class Leadership(TaskService):
    """Campaigns for the leader lock and runs `on_elected` services while it holds it."""

    def __init__(self, lock: LeaderLock, on_elected: list[BackgroundService]):
        self.lock = lock
        self.on_elected = on_elected
        self.leading = False
        super().__init__()

    name = "leadership"

    async def stop(self) -> None:
        await super().stop()
        await self._step_down()

    async def run(self) -> None:
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

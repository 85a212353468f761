"""Background services that run one coroutine: started with the process (or the leadership),
cancelled on stop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from abc import ABC, abstractmethod

log = logging.getLogger(__name__)


class TaskService(ABC):
    """Runs one coroutine in the background; `stop` cancels it and waits for it to end."""

    name = "background service"

    def __init__(self) -> None:
        self._task: asyncio.Task[None] | None = None

    @abstractmethod
    async def run(self) -> None: ...

    async def start(self) -> None:
        self._task = asyncio.create_task(self.run(), name=self.name)

    async def stop(self) -> None:
        if self._task is None:
            return
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None


class PeriodicService(TaskService):
    """Runs `tick` every `interval` seconds; a failed tick is logged and the next one retries."""

    interval: float

    @abstractmethod
    async def tick(self) -> object: ...

    async def run(self) -> None:
        while True:
            try:
                await self.tick()
            except Exception:  # the database may be briefly away: the next tick retries
                log.exception("%s failed", self.name)
            await asyncio.sleep(self.interval)

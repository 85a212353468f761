"""A background service that runs one coroutine: started with the process (or the leadership),
cancelled on stop."""

from __future__ import annotations

import asyncio
import contextlib
from abc import ABC, abstractmethod


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

"""A signal every waiter sees ("deliveries were stored", "executions changed"): what the
streams of the API wait on between their polls."""

from __future__ import annotations

import asyncio
import contextlib


class Pulse:
    """Wakes every task waiting at the time of `fire`; later waiters wait for the next one."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def fire(self) -> None:
        self._event.set()
        self._event = asyncio.Event()

    async def wait(self, timeout: float) -> None:
        """Return at the next `fire`, or after `timeout` seconds."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._event.wait(), timeout)

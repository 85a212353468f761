"""Worker pool (placeholder until the queue lands)."""

from __future__ import annotations

from octipus.runtime import Runtime


class Worker:
    def __init__(self, runtime: Runtime):
        self.runtime = runtime

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

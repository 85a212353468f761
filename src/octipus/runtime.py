"""What a running process shares: settings, database, HTTP client, the workers' wake-up signal."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from octipus.config import Settings
from octipus.db.engine import create_engine, create_sessionmaker


@dataclass
class Runtime:
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    http: httpx.AsyncClient
    work_available: asyncio.Event = field(default_factory=asyncio.Event)
    shutting_down: bool = False

    @classmethod
    def create(cls, settings: Settings) -> Runtime:
        engine = create_engine(settings)
        return cls(
            settings=settings,
            engine=engine,
            sessions=create_sessionmaker(engine),
            http=httpx.AsyncClient(timeout=httpx.Timeout(30.0), follow_redirects=False),
        )

    def wake_workers(self) -> None:
        """Tell in-process workers that new executions are queued."""
        self.work_available.set()

    async def close(self) -> None:
        await self.http.aclose()
        await self.engine.dispose()

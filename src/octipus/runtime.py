"""What a running process shares: settings, database, HTTP client, the workers' wake-up signal,
the news of execution changes."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from octipus.config import Settings
from octipus.db.connectors import Connector, connector_for
from octipus.db.engine import READ_ONLY, create_sessionmaker
from octipus.hooks.cache import HookCache
from octipus.ingress.batcher import DeliveryBatcher
from octipus.ingress.writer_link import WriterLink
from octipus.net.connect_guard import GuardedProcess
from octipus.net.guarded import GuardedClient, guarded_client
from octipus.net.http import HttpClient, operator_client
from octipus.pulse import Pulse
from octipus.queue.changes import ExecutionChanges
from octipus.queue.queries import queue_depth

if TYPE_CHECKING:
    from octipus.serving.shared import Shared


@dataclass
class Runtime:
    settings: Settings
    connector: Connector  # the database engine's (db/connectors/), chosen by its URL
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    read_sessions: async_sessionmaker[AsyncSession]
    http: HttpClient  # operator-configured services (Telegram, Slack)
    outbound: GuardedClient  # user-configured URLs, through the SSRF guard
    guarded_process: GuardedProcess  # libraries that open their own sockets (Apprise)
    hooks: HookCache
    deliveries: DeliveryBatcher
    shared: Shared | None = None  # with other processes serving the port (octipus/serving/)
    writer_socket: Path | None = None  # the ingress writer process's (serving/writer.py)
    work_available: asyncio.Event = field(default_factory=asyncio.Event)
    changes: ExecutionChanges = field(default_factory=ExecutionChanges)  # live streams, alerts
    deliveries_stored: Pulse = field(default_factory=Pulse)  # this process stored some
    shutting_down: bool = False
    _depth: tuple[float, int] = (0.0, 0)

    @classmethod
    def create(
        cls, settings: Settings, shared: Shared | None = None, writer_socket: Path | None = None
    ) -> Runtime:
        """The runtime; with `writer_socket`, deliveries are stored by the ingress writer process
        listening there (serving/writer.py), else by this process."""
        connector = connector_for(settings.database_url)
        engine = connector.create_engine(settings)
        sessions = create_sessionmaker(engine)
        return cls(
            settings=settings,
            connector=connector,
            engine=engine,
            sessions=sessions,
            read_sessions=create_sessionmaker(engine.execution_options(**READ_ONLY)),
            hooks=HookCache(engine, changes=shared.hooks if shared else None),
            deliveries=DeliveryBatcher(
                engine,
                settings.retry_max_attempts,
                None if writer_socket else connector.ingress_engine(settings),
                fsync=settings.sqlite_synchronous == "full",
                link=WriterLink(writer_socket) if writer_socket else None,
            ),
            http=operator_client(),
            outbound=guarded_client(settings.forward_allowed_hosts),
            guarded_process=GuardedProcess(settings.forward_allowed_hosts),
            shared=shared,
            writer_socket=writer_socket,
        )

    def wake_workers(self) -> None:
        """Tell the workers that new executions are queued (in this process, or the main one)."""
        self.work_available.set()
        self.changes.changed()
        if self.shared is not None and self.shared.wake is not None:
            self.shared.wake()

    async def queue_is_full(self) -> bool:
        """True when queued work exceeds OCTIPUS_QUEUE_MAX_DEPTH (sampled at most once a second)."""
        checked_at, depth = self._depth
        now = time.monotonic()
        if now - checked_at > 1.0:
            self._depth = (now, depth)  # one count at a time; meanwhile the last one stands
            async with self.read_sessions() as session:
                depth = await queue_depth(session)
            self._depth = (now, depth)
        return depth >= self.settings.queue_max_depth

    async def close(self) -> None:
        await self.deliveries.close()
        await self.http.aclose()
        await self.outbound.aclose()
        await self.guarded_process.aclose()
        await self.engine.dispose()

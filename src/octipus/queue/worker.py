"""The worker pool: claims due executions from the database queue and runs them (DESIGN §4)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from typing import Any

from sqlalchemy.engine import make_url

from octipus.db.ids import new_id
from octipus.db.tables import utcnow
from octipus.queue import queries
from octipus.queue.executor import run_claimed
from octipus.queue.queries import Claim
from octipus.runtime import Runtime

log = logging.getLogger(__name__)


class Worker:
    """Runs up to `worker_concurrency` executions at once, at most `hook_concurrency` per hook.

    Wakes when the ingress queues work (`runtime.work_available`; on PostgreSQL also LISTEN/
    NOTIFY from other processes), when a run finishes, and every `poll_interval_seconds` (for
    retries coming due). Recovers runs of dead workers once their lease expires.
    """

    def __init__(self, runtime: Runtime):
        self.runtime = runtime
        self.id = f"{socket.gethostname()[:32]}-{os.getpid()}-{new_id()[-8:]}"
        self._running: set[asyncio.Task[None]] = set()
        self._loop: asyncio.Task[None] | None = None
        self._listener: Any = None  # asyncpg.Connection on PostgreSQL
        self._stopping = False

    async def start(self) -> None:
        if not self.runtime.settings.is_sqlite:
            await self._listen()
        self._loop = asyncio.create_task(self._claim_loop(), name=f"worker {self.id}")
        log.info(
            "worker started",
            extra={"worker": self.id, "concurrency": self.runtime.settings.worker_concurrency},
        )

    async def stop(self) -> None:
        """Stop claiming; let running actions finish within the grace period; requeue the rest."""
        self._stopping = True
        self.runtime.work_available.set()
        if self._loop is not None:
            await self._loop
        await self._unlisten()
        if self._running:
            grace = self.runtime.settings.shutdown_grace_seconds
            _, unfinished = await asyncio.wait(self._running, timeout=grace or None)
            for task in unfinished:
                task.cancel()
            if unfinished:
                await asyncio.wait(unfinished)
        async with self.runtime.sessions.begin() as session:
            released = await queries.release_unfinished(session, self.id, utcnow())
        log.info("worker stopped", extra={"worker": self.id, "requeued": released})

    async def _claim_loop(self) -> None:
        settings = self.runtime.settings
        recovery_every = max(settings.poll_interval_seconds, settings.lease_seconds / 4)
        next_recovery = 0.0
        while not self._stopping:
            self.runtime.work_available.clear()
            recover = time.monotonic() >= next_recovery
            try:
                await self._claim_and_start(recover)
                if recover:
                    next_recovery = time.monotonic() + recovery_every
                    await self._check_listener()
            except Exception:  # the database may be briefly away; the next round retries
                log.exception("claiming executions failed", extra={"worker": self.id})
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    self.runtime.work_available.wait(), settings.poll_interval_seconds
                )

    async def _claim_and_start(self, recover: bool) -> None:
        settings = self.runtime.settings
        free = settings.worker_concurrency - len(self._running)
        if free <= 0 and not recover:
            return
        async with self.runtime.sessions.begin() as session:
            now = utcnow()
            if recover:
                requeued, failed = await queries.recover_stalled_executions(session, now)
                if requeued or failed:
                    log.warning(
                        "recovered stalled executions",
                        extra={"requeued": requeued, "failed": failed},
                    )
            claims = await queries.claim_due_executions(
                session,
                self.id,
                limit=free,
                per_hook_limit=settings.hook_concurrency,
                lease_seconds=settings.lease_seconds,
                now=now,
            )
        for claim in claims:
            task = asyncio.create_task(self._run(claim), name=f"execution {claim.id}")
            self._running.add(task)
            task.add_done_callback(self._finished)

    async def _run(self, claim: Claim) -> None:
        try:
            await run_claimed(self.runtime, claim, self.id)
        except Exception:  # left `running`; recovered when its lease expires
            log.exception("execution run failed", extra={"execution": claim.id})

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._running.discard(task)
        self.runtime.work_available.set()  # a slot is free (per hook and globally)

    async def _listen(self) -> None:
        """LISTEN for NOTIFY from other processes' ingress; polling covers any gap."""
        import asyncpg

        url = make_url(self.runtime.settings.database_url).set(drivername="postgresql")
        try:
            conn = await asyncpg.connect(url.render_as_string(hide_password=False))
            await conn.add_listener(queries.NOTIFY_CHANNEL, self._notified)
        except (OSError, asyncpg.PostgresError) as exc:
            log.warning("LISTEN unavailable; polling only", extra={"error": str(exc)})
            return
        self._listener = conn

    def _notified(self, *_: object) -> None:
        self.runtime.work_available.set()

    async def _check_listener(self) -> None:
        if self._listener is not None and self._listener.is_closed():
            self._listener = None
            await self._listen()

    async def _unlisten(self) -> None:
        if self._listener is not None:
            await self._listener.close()
            self._listener = None

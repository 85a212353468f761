"""The worker pool: claims due executions from the database queue and runs them (DESIGN §4)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from functools import partial
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from octipus.db.connectors import NEW_WORK, Listening
from octipus.db.ids import new_id
from octipus.db.tables import utcnow
from octipus.db.thread import DatabaseThread
from octipus.queue import queries
from octipus.queue.executor import Outcome, Run, attempt, prepare_runs, store_outcomes
from octipus.queue.queries import HookTally
from octipus.runtime import Runtime

log = logging.getLogger(__name__)
T = TypeVar("T")


# After a round that found nothing to claim, a NOTIFY wakes this worker no sooner than this:
# during a burst every enqueue notifies every worker, and one round per notification would
# spin idle workers that others beat to the work.
NOTIFY_QUIET_SECONDS = 0.05
# Hooks' lastError and executionCount (of hooks without maxExecutions/cooldownMs) are written
# at most this often, in a transaction of their own, rather than on a busy hook's row every round.
TALLY_FLUSH_SECONDS = 1.0


class Worker:
    """Runs up to `worker_concurrency` executions at once, shared fairly between hooks and users
    (queue/scheduling.py), within each hook's cap.

    One loop does all of the worker's database work, each round in one transaction: store the
    outcomes of runs that ended, renew leases and recover stalled runs (every quarter lease),
    and claim work for the free slots. So a busy worker pays one commit per round, not several
    per execution. It wakes when the ingress queues work (`runtime.work_available`; where the
    connector listens, also notifications from other processes), when a run ends, when a round
    claimed work and slots are still free, at the next upkeep, and every
    `poll_interval_seconds` (retries coming due).
    """

    def __init__(self, runtime: Runtime):
        self.runtime = runtime
        self.id = f"{socket.gethostname()[:32]}-{os.getpid()}-{new_id()[-8:]}"
        self._running: set[asyncio.Task[None]] = set()
        self._ended: list[tuple[Run, Outcome]] = []  # outcomes not yet stored
        self._loop: asyncio.Task[None] | None = None
        self._stopping = False
        self._next_upkeep = 0.0
        self._tallies: dict[str, HookTally] = {}  # hooks' outcomes not yet written
        self._next_flush = 0.0
        self._quiet_until = 0.0  # NOTIFY wakes no sooner (loop time)
        self._wake_timer: asyncio.TimerHandle | None = None
        self._database: DatabaseThread | None = None  # SQLite: rounds on the loop, or a thread
        self._listening: Listening | None = None  # notifications from other processes

    async def start(self) -> None:
        connector, settings = self.runtime.connector, self.runtime.settings
        self._database = connector.worker_database(settings, f"octipus-worker-db-{self.id[-8:]}")
        self._listening = connector.listen(settings.database_url, NEW_WORK, self._notified)
        if self._listening is not None:
            await self._listening.start()
        self._loop = asyncio.create_task(self._work_loop(), name=f"worker {self.id}")
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
        if self._listening is not None:
            await self._listening.stop()
        if self._running:
            grace = self.runtime.settings.shutdown_grace_seconds
            _, unfinished = await asyncio.wait(self._running, timeout=grace or None)
            for task in unfinished:
                task.cancel()
            if unfinished:
                await asyncio.wait(unfinished)
        released, tallies = await self._transact(partial(self._release, self._take_ended()))
        self._tally(tallies)
        await self._flush_tallies()
        if self._database is not None:
            await self._database.close()
        log.info("worker stopped", extra={"worker": self.id, "requeued": released})

    async def _release(
        self, ended: list[tuple[Run, Outcome]], session: AsyncSession
    ) -> tuple[int, dict[str, HookTally]]:
        """Store what ended and return this worker's unfinished runs to the queue."""
        tallies = await store_outcomes(session, ended, self.id) if ended else {}
        return await queries.release_unfinished(session, self.id, utcnow()), tallies

    async def _work_loop(self) -> None:
        poll = self.runtime.settings.poll_interval_seconds
        while not self._stopping:
            self.runtime.work_available.clear()
            try:
                await self._round()
                if time.monotonic() >= self._next_flush:
                    await self._flush_tallies()
                wait = min(poll, max(0.0, self._next_upkeep - time.monotonic()))
            except Exception:  # the database may be briefly away; the next round retries
                log.exception("worker round failed", extra={"worker": self.id})
                wait = poll
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.runtime.work_available.wait(), wait)
            await self._gather()

    async def _gather(self) -> None:
        """While runs are in flight, let more of them end before the next round, so that their
        outcomes and the claims for their slots share one transaction. An idle worker starts
        new work at once."""
        if self._running and not self._stopping:
            await asyncio.sleep(self.runtime.settings.worker_gather_ms / 1000)

    async def _round(self) -> None:
        """One transaction: store ended runs, upkeep when due, claim for the free slots."""
        settings = self.runtime.settings
        free = settings.worker_concurrency - len(self._running)
        upkeep = time.monotonic() >= self._next_upkeep
        if not (self._ended or upkeep or free > 0):
            return
        ended = self._take_ended()
        try:
            runs, tallies = await self._transact(
                partial(self._round_statements, ended, upkeep, free)
            )
        except BaseException:
            self._ended[:0] = ended  # not stored: try again next round
            raise
        self._tally(tallies)
        self.runtime.changes.round_committed(ended, bool(runs))
        if upkeep:
            self._next_upkeep = time.monotonic() + settings.lease_seconds / 4
        self._after_claim(free, len(runs))
        for run in runs:
            task = asyncio.create_task(self._run(run), name=f"execution {run.claim.id}")
            self._running.add(task)
            task.add_done_callback(self._finished)

    async def _round_statements(
        self, ended: list[tuple[Run, Outcome]], upkeep: bool, free: int, session: AsyncSession
    ) -> tuple[list[Run], dict[str, HookTally]]:
        """The round's transaction: the runs to start, and what the ended runs tally."""
        settings = self.runtime.settings
        now = utcnow()
        tallies = await store_outcomes(session, ended, self.id) if ended else {}
        if upkeep:
            await self._upkeep(session, now)
        claims = await queries.claim_due_executions(
            session,
            self.id,
            limit=free,
            user_limit=settings.user_concurrency,
            default_hook_limit=settings.hook_concurrency or None,
            lease_seconds=settings.lease_seconds,
            now=now,
        )
        return (await prepare_runs(session, claims, self.id) if claims else []), tallies

    def _after_claim(self, free: int, claimed: int) -> None:
        """Claimed some with slots left: go again at once (more may be due than one round's
        probe saw). Claimed nothing with slots free: let NOTIFY wake this worker later."""
        if claimed and claimed < free:
            self.runtime.work_available.set()
        loop = asyncio.get_running_loop()
        self._quiet_until = loop.time() + NOTIFY_QUIET_SECONDS if free > 0 and not claimed else 0

    def _tally(self, tallies: dict[str, HookTally]) -> None:
        """Add a round's finished runs to what the hooks' rows get at the next flush."""
        self._tallies = _merged(self._tallies, tallies)

    async def _flush_tallies(self) -> None:
        """Write the hooks' tallied outcomes (their own transaction, hooks in id order)."""
        self._next_flush = time.monotonic() + TALLY_FLUSH_SECONDS
        tallies, self._tallies = self._tallies, {}
        if not tallies:
            return
        try:
            await self._transact(partial(queries.record_hook_outcomes, tallies=tallies))
        except BaseException:
            self._tallies = _merged(tallies, self._tallies)  # not written: ahead of newer ones
            raise

    async def _transact(self, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
        """`work` in one transaction: on SQLite through the worker's DatabaseThread."""
        if self._database is not None:
            return await self._database.transact(work)
        async with self.runtime.sessions.begin() as session:
            return await work(session)

    async def _upkeep(self, session: AsyncSession, now: datetime) -> None:
        """Heartbeat for this worker's runs, and recovery of runs whose worker died."""
        await queries.renew_leases(session, self.id, self.runtime.settings.lease_seconds, now)
        requeued, failed = await queries.recover_stalled_executions(session, now)
        if requeued or failed:
            log.warning(
                "recovered stalled executions", extra={"requeued": requeued, "failed": failed}
            )

    async def _run(self, run: Run) -> None:
        outcome = await attempt(self.runtime, run)
        self._ended.append((run, outcome))  # `_ended` may be a new list by now

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._running.discard(task)
        self.runtime.work_available.set()  # an outcome to store and a slot to fill

    def _take_ended(self) -> list[tuple[Run, Outcome]]:
        ended, self._ended = self._ended, []
        return ended

    def _notified(self) -> None:
        """Wake for NOTIFY; right after a round that found nothing, once when the quiet ends."""
        loop = asyncio.get_running_loop()
        quiet = self._quiet_until - loop.time()
        if quiet <= 0:
            self.runtime.work_available.set()
        elif self._wake_timer is None:
            self._wake_timer = loop.call_later(quiet, self._quiet_ended)

    def _quiet_ended(self) -> None:
        self._wake_timer = None
        self.runtime.work_available.set()


def _merged(first: dict[str, HookTally], later: dict[str, HookTally]) -> dict[str, HookTally]:
    """Tallies per hook of the runs in `first` followed by those in `later`."""
    merged = dict(first)
    for hook_id, tally in later.items():
        merged[hook_id] = merged[hook_id].then(tally) if hook_id in merged else tally
    return merged

"""Group commit for the ingress: concurrent deliveries share one transaction (DESIGN §1, §8).

A request hands its delivery to the batcher and waits. One writer task takes everything that is
waiting (up to `max_batch`), writes it in one transaction, and resolves each request only after
that commit, so a 2xx still means "committed". A batch that fails fails only its own requests.

On SQLite the whole transaction runs in one dedicated thread (ingress/sqlite_writer.py): one
hop to that thread per batch, instead of one event-loop round trip per statement. That
connection commits without waiting for the disk; a second thread then fsyncs the WAL and only
then are the batch's requests answered (with OCTIPUS_SQLITE_SYNCHRONOUS=full, the default).
The next batch is written while the previous one is being synced, so the disk's flush time
is paid once per group of batches instead of once per batch inside the write lock.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections import deque
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from octipus.ingress.accept import Accepted, record_deliveries
from octipus.ingress.sqlite_writer import SQLiteDeliveryWriter

log = logging.getLogger(__name__)

Waiting = tuple[Accepted, "asyncio.Future[list[str]]"]
CONFLICTS = (IntegrityError, sqlite3.IntegrityError)  # SQLAlchemy's, and the raw SQLite writer's


class NotStored(Exception):
    """The transaction that held this delivery did not commit; nothing of it was stored."""


Committed = list[tuple["asyncio.Future[list[str]]", list[str]]]


class DeliveryBatcher:
    def __init__(
        self,
        engine: AsyncEngine,
        default_max_attempts: int,
        sqlite_writer: Engine | None = None,
        fsync: bool = True,
        max_batch: int = 256,
    ):
        self._engine = engine
        self._sqlite_engine = sqlite_writer
        self._sqlite_writer = (
            SQLiteDeliveryWriter(sqlite_writer, default_max_attempts) if sqlite_writer else None
        )
        self._fsync = fsync and sqlite_writer is not None
        self._threads = [ThreadPoolExecutor(1, f"octipus-ingress-{n}") for n in ("writer", "sync")]
        self._default_max_attempts = default_max_attempts
        self._max_batch = max_batch
        self._waiting: deque[Waiting] = deque()
        self._wake = asyncio.Event()
        self._writer: asyncio.Task[None] | None = None
        self._unsynced: Committed = []
        self._syncer: asyncio.Task[None] | None = None

    async def record(self, item: Accepted) -> list[str]:
        """Store `item` durably; the ids of the hooks that fired (empty: all duplicates).

        Raises NotStored when its transaction failed.
        """
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_forever(), name="delivery-batcher")
        future: asyncio.Future[list[str]] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, future))
        self._wake.set()
        return await future

    async def close(self) -> None:
        """Stop the writer (anything still waiting is answered NotStored); finish syncing."""
        if self._writer is not None:
            self._writer.cancel()
            await asyncio.gather(self._writer, return_exceptions=True)
            self._writer = None
        _fail(list(self._waiting), NotStored("the server is shutting down"))
        self._waiting.clear()
        if self._syncer is not None:
            await asyncio.gather(self._syncer, return_exceptions=True)
        for thread in self._threads:
            thread.shutdown(wait=True)
        if self._sqlite_engine is not None:
            self._sqlite_engine.dispose()

    async def _write_forever(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._waiting:
                count = min(len(self._waiting), self._max_batch)
                batch = [self._waiting.popleft() for _ in range(count)]
                try:
                    committed = await self._write(batch)
                except asyncio.CancelledError:
                    _fail(batch, NotStored("the server is shutting down"))
                    raise
                self._answer_when_durable(committed)

    async def _write(self, batch: list[Waiting]) -> Committed:
        """Commit `batch` in one transaction; what committed (the rest is answered NotStored)."""
        try:
            fired = await self._transact([item for item, _ in batch])
        except CONFLICTS:
            if len(batch) == 1:
                log.exception("could not store a delivery")
                _fail(batch, NotStored("the delivery conflicts with the database"))
                return []
            committed: Committed = []
            for one in batch:  # a row that breaks a constraint must not sink its neighbours
                committed += await self._write([one])
            return committed
        except Exception:
            log.exception("could not store %d deliveries", len(batch))
            _fail(batch, NotStored("the database write failed"))
            return []
        return [(future, hooks) for (_, future), hooks in zip(batch, fired, strict=True)]

    async def _transact(self, items: Sequence[Accepted]) -> list[list[str]]:
        """One committed transaction holding `items`."""
        if self._sqlite_writer is not None:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._threads[0], self._sqlite_writer.write, items)
        async with self._engine.begin() as conn:
            return await conn.run_sync(record_deliveries, items, self._default_max_attempts)

    def _answer_when_durable(self, committed: Committed) -> None:
        """Answer at once, or after the next WAL fsync that starts after this commit."""
        if not self._fsync:
            _answer(committed)
            return
        self._unsynced += committed
        if self._syncer is None or self._syncer.done():
            self._syncer = asyncio.create_task(self._sync_forever(), name="delivery-sync")

    async def _sync_forever(self) -> None:
        """fsync the WAL for every group of commits; the writer goes on meanwhile."""
        assert self._sqlite_writer is not None
        loop = asyncio.get_running_loop()
        while self._unsynced:
            group, self._unsynced = self._unsynced, []
            try:
                await loop.run_in_executor(self._threads[1], self._sqlite_writer.sync)
            except OSError:
                log.exception("could not fsync the SQLite WAL")
                _fail(
                    [(None, f) for f, _ in group], NotStored("the commit could not be made durable")
                )
            else:
                _answer(group)


def _answer(committed: Committed) -> None:
    for future, hooks in committed:
        if not future.done():
            future.set_result(hooks)


def _fail(batch: Sequence[tuple[object, asyncio.Future[list[str]]]], error: NotStored) -> None:
    for _, future in batch:
        if not future.done():
            future.set_exception(error)

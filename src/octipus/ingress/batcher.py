"""Group commit for the ingress: concurrent deliveries share one transaction (DESIGN §1, §8).

A request hands its delivery to the batcher and waits. A writer task takes everything that is
waiting (up to `max_batch`), writes it in one transaction, and resolves each request only after
that commit is durable, so a 2xx still means "committed". A batch that fails fails only its own
requests.

Every path writes with the same statement (ingress/encoded.py `insert`). On PostgreSQL a batch
is one transaction on the async engine (ingress/accept.py `record_deliveries`).

On SQLite with the ingress writer process (the default with two or more CPUs: serving/writer.py,
ingress/writer_process.py), each batch is sent to that process as plain rows; it encodes them,
merges the batches of every serving process into one transaction and answers once it is synced.
Up to LINK_IN_FLIGHT batches are with it at once.

Otherwise on SQLite (one serving process: ingress/sqlite_writer.py) a batch is committed and
its WAL fsynced on the event loop's own thread, with no thread hop: the transaction is a few
hundred microseconds of CPU, the fsync a fraction of a millisecond on a healthy disk, and in
profiles the hand-offs to a writer thread and back (GIL switches, wake-ups) cost more than the
wait they saved. When another connection holds SQLite's write lock (a worker's transaction, an
API write), the batch goes to a writer thread instead, which waits for the lock there; then up
to two batches are in flight.
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
from octipus.ingress.encoded import BatchEncoder
from octipus.ingress.sqlite_writer import SQLiteDeliveryWriter
from octipus.ingress.writer_link import WriterLink
from octipus.metrics import INGRESS_BATCH, INGRESS_COMMIT_SECONDS, INGRESS_TRANSACTION

log = logging.getLogger(__name__)

Waiting = tuple[Accepted, "asyncio.Future[list[str]]"]
CONFLICTS = (IntegrityError, sqlite3.IntegrityError)  # SQLAlchemy's, and the raw SQLite writer's
LINK_IN_FLIGHT = 4  # batches a serving process may have at the ingress writer process at once


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
        link: WriterLink | None = None,
    ):
        self._engine = engine
        self._sqlite_engine = sqlite_writer
        self._sqlite_writer = (
            SQLiteDeliveryWriter(sqlite_writer, default_max_attempts, fsync)
            if sqlite_writer
            else None
        )
        self._link = link
        self._threads = ThreadPoolExecutor(2, "octipus-ingress-writer")  # SQLite's lock held
        self._in_flight = LINK_IN_FLIGHT if link else 2
        self._default_max_attempts = default_max_attempts
        self._max_batch = max_batch
        self._waiting: deque[Waiting] = deque()
        self._wake = asyncio.Event()
        self._writer: asyncio.Task[None] | None = None
        self._storing: set[asyncio.Task[None]] = set()

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
        """Stop taking batches (anything still waiting is answered NotStored); finish the rest."""
        if self._writer is not None:
            self._writer.cancel()
            await asyncio.gather(self._writer, return_exceptions=True)
            self._writer = None
        _fail(list(self._waiting), NotStored("the server is shutting down"))
        self._waiting.clear()
        await asyncio.gather(*self._storing, return_exceptions=True)
        self._threads.shutdown(wait=True)
        if self._link is not None:
            self._link.close()
        if self._sqlite_writer is not None:
            self._sqlite_writer.close()
        if self._sqlite_engine is not None:
            self._sqlite_engine.dispose()

    async def _write_forever(self) -> None:
        slots = asyncio.Semaphore(self._in_flight)
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._waiting:
                await slots.acquire()
                count = min(len(self._waiting), self._max_batch)
                batch = [self._waiting.popleft() for _ in range(count)]
                INGRESS_BATCH.observe(count)
                task = asyncio.create_task(self._store(batch), name="delivery-batch")
                self._storing.add(task)
                task.add_done_callback(self._storing.discard)
                task.add_done_callback(lambda _: slots.release())

    async def _store(self, batch: list[Waiting]) -> None:
        _answer(await self._write(batch))

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
        """One committed (and, on SQLite, synced) transaction holding `items`."""
        if self._link is not None:
            return await self._link.write(BatchEncoder.plain(items, self._default_max_attempts))
        INGRESS_TRANSACTION.observe(len(items))
        writer = self._sqlite_writer
        if writer is not None:
            fired = writer.commit_now(items)
            if fired is None:  # SQLite's write lock is held: wait for it in a writer thread
                loop = asyncio.get_running_loop()
                return await loop.run_in_executor(self._threads, writer.write, items)
            writer.sync()
            return fired
        with INGRESS_COMMIT_SECONDS.time():
            async with self._engine.begin() as conn:
                return await conn.run_sync(record_deliveries, items, self._default_max_attempts)


def _answer(committed: Committed) -> None:
    for future, hooks in committed:
        if not future.done():
            future.set_result(hooks)


def _fail(batch: Sequence[tuple[object, asyncio.Future[list[str]]]], error: NotStored) -> None:
    for _, future in batch:
        if not future.done():
            future.set_exception(error)

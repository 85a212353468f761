"""Group commit for the ingress: concurrent deliveries share one transaction (DESIGN §1, §8).

A request hands its delivery to the batcher and waits. One writer task takes everything that is
waiting (up to `max_batch`), writes it in one transaction, and resolves each request only after
that commit, so a 2xx still means "committed". A batch that fails fails only its own requests.

On SQLite the whole transaction runs in one dedicated thread (ingress/sqlite_writer.py): one
hop to that thread per batch, instead of one event-loop round trip per statement.
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


class DeliveryBatcher:
    def __init__(
        self,
        engine: AsyncEngine,
        default_max_attempts: int,
        sqlite_writer: Engine | None = None,
        max_batch: int = 256,
    ):
        self._engine = engine
        self._sqlite_engine = sqlite_writer
        self._sqlite_writer = (
            SQLiteDeliveryWriter(sqlite_writer, default_max_attempts) if sqlite_writer else None
        )
        self._thread = ThreadPoolExecutor(1, "octipus-ingress-writer") if sqlite_writer else None
        self._default_max_attempts = default_max_attempts
        self._max_batch = max_batch
        self._waiting: deque[Waiting] = deque()
        self._wake = asyncio.Event()
        self._writer: asyncio.Task[None] | None = None

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
        """Stop the writer; anything still waiting is answered NotStored."""
        if self._writer is not None:
            self._writer.cancel()
            await asyncio.gather(self._writer, return_exceptions=True)
            self._writer = None
        _fail(list(self._waiting), NotStored("the server is shutting down"))
        self._waiting.clear()
        if self._thread is not None:
            self._thread.shutdown(wait=True)
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
                    await self._write(batch)
                except asyncio.CancelledError:
                    _fail(batch, NotStored("the server is shutting down"))
                    raise

    async def _write(self, batch: list[Waiting]) -> None:
        try:
            fired = await self._transact([item for item, _ in batch])
        except CONFLICTS:
            if len(batch) == 1:
                log.exception("could not store a delivery")
                _fail(batch, NotStored("the delivery conflicts with the database"))
                return
            for one in batch:  # a row that breaks a constraint must not sink its neighbours
                await self._write([one])
            return
        except Exception:
            log.exception("could not store %d deliveries", len(batch))
            _fail(batch, NotStored("the database write failed"))
            return
        for (_, future), hooks in zip(batch, fired, strict=True):
            if not future.done():
                future.set_result(hooks)

    async def _transact(self, items: Sequence[Accepted]) -> list[list[str]]:
        """One committed transaction holding `items`."""
        if self._sqlite_writer is not None:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._thread, self._sqlite_writer.write, items)
        async with self._engine.begin() as conn:
            return await conn.run_sync(record_deliveries, items, self._default_max_attempts)


def _fail(batch: list[Waiting], error: NotStored) -> None:
    for _, future in batch:
        if not future.done():
            future.set_exception(error)

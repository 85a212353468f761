"""SQLite's ingress writer: a batch of deliveries in one transaction through the raw driver.

The batcher (ingress/batcher.py) first asks it to commit a batch on the event loop's own thread
(`commit_now`), which costs no thread hop and none of the GIL hand-offs a writer thread pays at
each statement. When another connection holds SQLite's write lock (the worker, an API write), it
answers None at once instead of waiting, and the batch goes to a writer thread (`write`), which
waits for the lock there. Either way the WAL is then synced before any request of the batch is
answered.

It skips SQLAlchemy's per-statement machinery (half the writer's CPU in profiles) but not its
encoding: every value goes through its column type's own bind processor (ingress/encoded.py
`BatchEncoder`), so rows read back exactly as if SQLAlchemy had written them. The INSERTs
themselves are ingress/encoded.py's, the same for every path.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy.engine import Engine

from octipus.db.connectors.sqlite import qmark, sync_wal
from octipus.db.thread import is_busy
from octipus.ingress.accept import Accepted
from octipus.ingress.encoded import BatchEncoder, BatchRows, insert
from octipus.metrics import INGRESS_COMMIT_SECONDS, INGRESS_SYNC_SECONDS

BUSY_TIMEOUT_S = 30.0  # how long `write` waits for SQLite's write lock, as the engine's own
RETRY_DELAYS_S = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02)  # then every 20 ms until the timeout


class Busy(Exception):
    """Another writer holds a lock this attempt would have had to wait for."""


class SQLiteDeliveryWriter:
    """Writes batches of accepted deliveries on its own connection; thread-safe."""

    def __init__(
        self,
        engine: Engine,
        default_max_attempts: int,
        fsync: bool = True,
    ):
        self._engine = engine
        self._fsync = fsync
        self._transaction = threading.Lock()
        assert engine.url.database
        self._database = engine.url.database
        self._encoder = BatchEncoder(engine.dialect)
        self._default_max_attempts = default_max_attempts
        self._pooled: Any = None  # the writer's own connection, opened on first use

    def commit_now(self, items: Sequence[Accepted]) -> list[list[str]] | None:
        """Commit the batch without waiting for SQLite's write lock (not synced yet: `sync`);
        per item, the hooks that fired. None, at once, when another connection of this
        process or another holds that lock (a worker's transaction, an API write)."""
        batch = self._encoder.encode(BatchEncoder.plain(items, self._default_max_attempts))
        try:
            with self._locked(wait=False):
                return self._commit(batch)
        except Busy:
            return None

    def write(self, items: Sequence[Accepted]) -> list[list[str]]:
        """Commit the batch, waiting for SQLite's write lock (up to BUSY_TIMEOUT_S), then make
        it durable; per item, the hooks that fired. Blocking: for a writer thread.

        It waits with the writer's lock released, as SQLite's own busy handler would not."""
        batch = self._encoder.encode(BatchEncoder.plain(items, self._default_max_attempts))
        delays = iter(RETRY_DELAYS_S)
        deadline = time.monotonic() + BUSY_TIMEOUT_S
        while True:
            try:
                with self._locked(wait=True):
                    fired = self._commit(batch)
                break
            except Busy as busy:
                if time.monotonic() >= deadline:
                    raise TimeoutError(
                        f"SQLite's write lock stayed busy {BUSY_TIMEOUT_S:.0f} s"
                    ) from busy
                time.sleep(next(delays, RETRY_DELAYS_S[-1]))
        self.sync()
        return fired

    def sync(self) -> None:
        """Make every batch committed so far durable (db/engine.py `sync_wal`), unless
        OCTIPUS_SQLITE_SYNCHRONOUS=normal."""
        if self._fsync:
            with INGRESS_SYNC_SECONDS.time():
                sync_wal(self._database)

    def close(self) -> None:
        """Close the writer's connection (the engine is disposed by its owner)."""
        if self._pooled is not None:
            self._pooled.close()
            self._pooled = None

    @contextmanager
    def _locked(self, wait: bool) -> Iterator[None]:
        """This process's writer lock (or Busy, without `wait`)."""
        if not self._transaction.acquire(blocking=wait):
            raise Busy
        try:
            yield
        finally:
            self._transaction.release()

    def _connection(self) -> Any:
        """The writer's connection. It never waits in SQLite's busy handler, which would block
        the event loop's thread (db/connectors/sqlite.py `create_writer_engine`): `write`
        waits instead."""
        if self._pooled is None:
            self._pooled = self._engine.raw_connection()
        return self._pooled.driver_connection

    def _commit(self, batch: BatchRows) -> list[list[str]]:
        """One transaction holding `batch`; Busy when another connection holds the write lock."""
        connection = self._connection()
        cursor = connection.cursor()
        try:
            cursor.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            if is_busy(exc):
                raise Busy from exc
            raise
        with INGRESS_COMMIT_SECONDS.time():
            try:
                fired = insert(cursor.execute, batch, qmark)
                cursor.execute("COMMIT")
            except BaseException:
                if connection.in_transaction:
                    connection.rollback()
                raise
        return fired

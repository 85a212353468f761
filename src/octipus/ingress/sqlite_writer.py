"""SQLite's ingress writer: a batch of deliveries in one transaction through the raw driver.

The batcher (ingress/batcher.py) first asks it to commit a batch on the event loop's own thread
(`commit_now`), which costs no thread hop and none of the GIL hand-offs a writer thread pays at
each statement. When another connection holds SQLite's write lock (the worker, an API write), it
answers None at once instead of waiting, and the batch goes to a writer thread (`write`), which
waits for the lock there. Either way the WAL is then synced before any request of the batch is
answered.

It skips SQLAlchemy's per-statement machinery (half the writer's CPU in profiles) but not its
encoding: every value goes through its column type's own bind processor (`BatchEncoder`, which
also encodes the batches sent to the ingress writer process), so rows read back exactly as if
SQLAlchemy had written them. The INSERTs themselves are in ingress/encoded.py.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from octipus.db.connectors.sqlite import sqlite_dialect, sync_wal
from octipus.db.tables import Delivery, Execution
from octipus.db.thread import is_busy
from octipus.ingress.accept import Accepted, execution_rows
from octipus.ingress.encoded import BatchRows, insert
from octipus.metrics import INGRESS_COMMIT_SECONDS, INGRESS_SYNC_SECONDS

Processor = Callable[[Any], Any]
BUSY_TIMEOUT_S = 30.0  # how long `write` waits for SQLite's write lock, as the engine's own
RETRY_DELAYS_S = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02)  # then every 20 ms until the timeout


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ONE_MICROSECOND = timedelta(microseconds=1)


class TableEncoder:
    """Plain column values → driver values, with each column type's bind processor."""

    def __init__(self, table: sa.Table, dialect: sa.Dialect):
        self._processors: dict[str, tuple[Processor, type] | None] = {}
        self._timestamps: set[str] = set()
        for column in table.columns:
            process = column.type.dialect_impl(dialect).bind_processor(dialect)
            self._processors[column.key] = None if process is None else (process, type(column.type))
            if isinstance(getattr(column.type, "impl", column.type), sa.DateTime):
                self._timestamps.add(column.key)

    def encode(self, values: Sequence[Any], keys: Sequence[str], memo: dict[Any, Any]) -> list[Any]:
        """`values` (plain: `plain_row`) of the columns `keys`, encoded. `memo` keeps the
        timestamps encoded so far (a delivery's arrival is also its executions' created_at and
        run_after), so that a batch encodes each once; keyed by column type, since equal
        timestamps of one type encode alike."""
        encoded = []
        for key, value in zip(keys, values, strict=True):
            processor = self._processors[key]
            if processor is None or value is None:
                encoded.append(value if processor is None else processor[0](value))
            elif key in self._timestamps:
                done = memo.get((processor[1], value))
                if done is None:
                    done = memo[processor[1], value] = processor[0](EPOCH + value * ONE_MICROSECOND)
                encoded.append(done)
            else:
                encoded.append(processor[0](value))
        return encoded


def plain_row(row: dict[str, Any], keys: Sequence[str]) -> list[Any]:
    """`row`'s values in `keys` order, each timestamp as integer microseconds since the epoch
    (exact, and `marshal` can send it); TableEncoder.encode turns them back."""
    return [
        (v - EPOCH) // ONE_MICROSECOND if type(v) is datetime else v for v in map(row.get, keys)
    ]


class BatchEncoder:
    """Accepted deliveries → plain rows (`plain`), which this process or the ingress writer
    process then encodes into SQLite driver values (`encode`; ingress/encoded.py)."""

    def __init__(self, dialect: sa.Dialect | None = None):
        dialect = dialect or sqlite_dialect()
        tables = Delivery.metadata.tables
        self._deliveries = TableEncoder(tables[Delivery.__tablename__], dialect)
        self._executions = TableEncoder(tables[Execution.__tablename__], dialect)

    @staticmethod
    def plain(items: Sequence[Accepted], default_max_attempts: int) -> BatchRows:
        """The batch's rows as plain values (`plain_row`), not yet encoded."""
        deliveries = [item.delivery for item in items]
        delivery_keys = tuple(deliveries[0])
        rows = [r for item in items for r in execution_rows(item, default_max_attempts)]
        execution_keys = tuple(rows[0])
        return BatchRows(
            delivery_keys,
            [plain_row(row, delivery_keys) for row in deliveries],
            execution_keys,
            [plain_row(row, execution_keys) for row in rows],
            [row["id"] for row in deliveries],
        )

    def encode(self, batch: BatchRows) -> BatchRows:
        """`batch`'s plain rows as driver values."""
        memo: dict[Any, Any] = {}
        deliveries, executions = self._deliveries, self._executions
        keys, execution_keys = batch.delivery_keys, batch.execution_keys
        return BatchRows(
            keys,
            [deliveries.encode(row, keys, memo) for row in batch.deliveries],
            execution_keys,
            [executions.encode(row, execution_keys, memo) for row in batch.executions],
            batch.delivery_ids,
        )


class ProcessLock:
    """An exclusive `flock` on a file: one ingress transaction at a time across the processes
    serving the port. SQLite would serialise them too, but its busy handler sleeps 1-100 ms
    between tries, where a waiter on the flock is woken the moment the lock is free."""

    def __init__(self, path: Path):
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)

    def acquire(self) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_EX)

    def release(self) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        os.close(self._fd)


class Busy(Exception):
    """Another writer holds a lock this attempt would have had to wait for."""


class SQLiteDeliveryWriter:
    """Writes batches of accepted deliveries on its own connection; thread-safe."""

    def __init__(
        self,
        engine: Engine,
        default_max_attempts: int,
        fsync: bool = True,
        across_processes: bool = False,
    ):
        self._engine = engine
        self._fsync = fsync
        self._transaction = threading.Lock()
        assert engine.url.database
        self._database = engine.url.database
        self._other_processes = (
            ProcessLock(Path(f"{self._database}-ingress.lock")) if across_processes else None
        )
        self._encoder = BatchEncoder(engine.dialect)
        self._default_max_attempts = default_max_attempts
        self._pooled: Any = None  # the writer's own connection, opened on first use

    def commit_now(self, items: Sequence[Accepted]) -> list[list[str]] | None:
        """Commit the batch without waiting for SQLite's write lock (not synced yet: `sync`);
        per item, the hooks that fired. None, at once, when another connection of this
        process or any other holds that lock (a worker's transaction, an API write)."""
        batch = self._encoder.encode(BatchEncoder.plain(items, self._default_max_attempts))
        try:
            with self._locked(wait=False):
                return self._commit(batch)
        except Busy:
            return None

    def write(self, items: Sequence[Accepted]) -> list[list[str]]:
        """Commit the batch, waiting for SQLite's write lock (up to BUSY_TIMEOUT_S), then make
        it durable; per item, the hooks that fired. Blocking: for a writer thread.

        It waits with the ingress lock released, as SQLite's own busy handler would not."""
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
        """Close the writer's connection and lock file (the engine is disposed by its owner)."""
        if self._pooled is not None:
            self._pooled.close()
            self._pooled = None
        if self._other_processes is not None:
            self._other_processes.close()

    @contextmanager
    def _locked(self, wait: bool) -> Iterator[None]:
        """This process's writer lock (or Busy, without `wait`), then the one shared with the
        other serving processes. That one is always waited for, even on the event loop: its
        holders only run a transaction under it, never a sync nor a wait for SQLite's lock,
        so the wait is about as long as one batch's INSERTs."""
        if not self._transaction.acquire(blocking=wait):
            raise Busy
        try:
            others = self._other_processes
            if others is not None:
                others.acquire()
            try:
                yield
            finally:
                if others is not None:
                    others.release()
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
                fired = insert(cursor, batch)
                cursor.execute("COMMIT")
            except BaseException:
                if connection.in_transaction:
                    connection.rollback()
                raise
        return fired

"""SQLite's ingress writer: a batch of deliveries in one transaction through the raw driver.

The batcher (ingress/batcher.py) first asks it to commit a batch on the event loop's own thread
(`commit_now`), which costs no thread hop and none of the GIL hand-offs a writer thread pays at
each statement. When another connection holds SQLite's write lock (the worker, an API write), it
answers None at once instead of waiting, and the batch goes to a writer thread (`write`), which
waits for the lock there. Either way the WAL is then synced before any request of the batch is
answered.

It skips SQLAlchemy's per-statement machinery (half the writer's CPU in profiles) but not its
encoding: every value goes through its column type's own bind processor, so rows read back
exactly as if SQLAlchemy had written them. The SQL is built from the table definitions.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from octipus.db.engine import sync_wal
from octipus.db.tables import Delivery, Execution
from octipus.db.thread import is_busy
from octipus.ingress.accept import Accepted, execution_rows, fired_hooks
from octipus.metrics import INGRESS_COMMIT_SECONDS, INGRESS_SYNC_SECONDS

Processor = Callable[[Any], Any]
Statement = tuple[str, list[Any]]  # SQL and its encoded parameters
ROWS_PER_STATEMENT = 500  # x 15 columns stays well under SQLite's 32766 bound variables
BUSY_TIMEOUT_S = 30.0  # how long `write` waits for SQLite's write lock, as the engine's own
RETRY_DELAYS_S = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02)  # then every 20 ms until the timeout


class TableEncoder:
    """Column values → driver values, with each column type's bind processor."""

    def __init__(self, table: sa.Table, dialect: sa.Dialect):
        self.table = table.name
        self._processors: dict[str, tuple[Processor, type] | None] = {}
        for column in table.columns:
            process = column.type.dialect_impl(dialect).bind_processor(dialect)
            self._processors[column.key] = None if process is None else (process, type(column.type))

    def encode(self, row: dict[str, Any], keys: Sequence[str], memo: dict[Any, Any]) -> list[Any]:
        """`row`'s values in `keys` order. `memo` keeps the timestamps encoded so far (a
        delivery's arrival is also its executions' created_at and run_after), so that a batch
        encodes each once; they are keyed by column type, since equal datetimes of one type
        encode alike."""
        values = []
        for key in keys:
            value = row[key]
            processor = self._processors[key]
            if processor is None:
                values.append(value)
            elif type(value) is datetime:
                encoded = memo.get((processor[1], value))
                if encoded is None:
                    encoded = memo[processor[1], value] = processor[0](value)
                values.append(encoded)
            else:
                values.append(processor[0](value))
        return values


@lru_cache(maxsize=512)
def _insert_sql(table: str, keys: tuple[str, ...], rows: int, suffix: str = "") -> str:
    placeholders = "(" + ",".join("?" * len(keys)) + ")"
    values = ",".join([placeholders] * rows)
    return f"INSERT INTO {table} ({','.join(keys)}) VALUES {values}{suffix}"


_ON_CONFLICT = " ON CONFLICT (hook_id, dedupe_key) DO NOTHING RETURNING delivery_pk, hook_id"


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
        self._default_max_attempts = default_max_attempts
        tables = Delivery.metadata.tables
        self._deliveries = TableEncoder(tables[Delivery.__tablename__], engine.dialect)
        self._executions = TableEncoder(tables[Execution.__tablename__], engine.dialect)
        self._pooled: Any = None  # the writer's own connection, opened on first use

    def commit_now(self, items: Sequence[Accepted]) -> list[list[str]] | None:
        """Commit the batch without waiting for SQLite's write lock (not synced yet: `sync`);
        per item, the hooks that fired. None, at once, when another connection of this
        process or any other holds that lock (a worker's transaction, an API write)."""
        statements = self._statements(items)
        try:
            with self._locked(wait=False):
                return self._commit(items, *statements)
        except Busy:
            return None

    def write(self, items: Sequence[Accepted]) -> list[list[str]]:
        """Commit the batch, waiting for SQLite's write lock (up to BUSY_TIMEOUT_S), then make
        it durable; per item, the hooks that fired. Blocking: for a writer thread.

        It waits with the ingress lock released, as SQLite's own busy handler would not."""
        statements = self._statements(items)
        delays = iter(RETRY_DELAYS_S)
        deadline = time.monotonic() + BUSY_TIMEOUT_S
        while True:
            try:
                with self._locked(wait=True):
                    fired = self._commit(items, *statements)
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
        the event loop's thread (`create_sqlite_writer`): `write` waits instead."""
        if self._pooled is None:
            self._pooled = self._engine.raw_connection()
        return self._pooled.driver_connection

    def _commit(
        self, items: Sequence[Accepted], deliveries: Statement, executions: list[Statement]
    ) -> list[list[str]]:
        """One transaction holding `items`; Busy when another connection holds the write lock."""
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
                fired = self._insert(cursor, items, deliveries, executions)
                cursor.execute("COMMIT")
            except BaseException:
                if connection.in_transaction:
                    connection.rollback()
                raise
        return fired

    def _statements(self, items: Sequence[Accepted]) -> tuple[Statement, list[Statement]]:
        """The batch's INSERTs, values encoded: built before any lock is taken."""
        memo: dict[Any, Any] = {}
        deliveries = [item.delivery for item in items]
        keys = tuple(deliveries[0])
        insert_deliveries = (
            _insert_sql(self._deliveries.table, keys, len(deliveries)),
            [v for row in deliveries for v in self._deliveries.encode(row, keys, memo)],
        )
        rows = [r for item in items for r in execution_rows(item, self._default_max_attempts)]
        keys = tuple(rows[0])
        chunks = [rows[i : i + ROWS_PER_STATEMENT] for i in range(0, len(rows), ROWS_PER_STATEMENT)]
        insert_executions = [
            (
                _insert_sql(self._executions.table, keys, len(chunk), _ON_CONFLICT),
                [v for row in chunk for v in self._executions.encode(row, keys, memo)],
            )
            for chunk in chunks
        ]
        return insert_deliveries, insert_executions

    def _insert(
        self,
        cursor: Any,
        items: Sequence[Accepted],
        deliveries: Statement,
        executions: list[Statement],
    ) -> list[list[str]]:
        cursor.execute(*deliveries)
        inserted = [row for sql, values in executions for row in cursor.execute(sql, values)]
        fired, unused = fired_hooks(items, inserted)
        if unused:
            marks = ",".join("?" * len(unused))
            cursor.execute(f"DELETE FROM {self._deliveries.table} WHERE id IN ({marks})", unused)
        return fired

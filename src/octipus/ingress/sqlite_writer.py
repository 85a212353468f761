"""SQLite's ingress writer: a batch of deliveries in one transaction through the raw driver.

Runs in the batcher's writer thread, so the whole transaction costs one hop from the event loop.
It skips SQLAlchemy's per-statement machinery (half the writer's CPU in profiles) but not its
encoding: every value goes through its column type's own bind processor, so rows read back
exactly as if SQLAlchemy had written them. The SQL is built from the table definitions.
"""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from functools import lru_cache
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from octipus.db.engine import sync_wal
from octipus.db.tables import Delivery, Execution
from octipus.ingress.accept import Accepted, execution_rows, fired_hooks
from octipus.metrics import INGRESS_COMMIT_SECONDS, INGRESS_SYNC_SECONDS

Processor = Callable[[Any], Any]
Statement = tuple[str, list[Any]]  # SQL and its encoded parameters
ROWS_PER_STATEMENT = 500  # x 15 columns stays well under SQLite's 32766 bound variables


class TableEncoder:
    """Column values → driver values, with each column type's bind processor."""

    def __init__(self, table: sa.Table, dialect: sa.Dialect):
        self.table = table.name
        self._processors: dict[str, Processor | None] = {
            column.key: column.type.dialect_impl(dialect).bind_processor(dialect)
            for column in table.columns
        }

    def encode(self, row: dict[str, Any], keys: Sequence[str]) -> list[Any]:
        values = []
        for key in keys:
            process = self._processors[key]
            values.append(row[key] if process is None else process(row[key]))
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

    def __enter__(self) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_EX)

    def __exit__(self, *_: object) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_UN)


class SQLiteDeliveryWriter:
    """Writes batches of accepted deliveries; safe to call from several threads at once."""

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

    def write(self, items: Sequence[Accepted]) -> list[list[str]]:
        """Insert the batch in one transaction, then make it durable; per item, the hooks that
        fired. The transaction holds a lock; the encoding before it and the fsync after it do
        not, so another thread can write the next batch meanwhile."""
        deliveries, executions = self._statements(items)
        exclusive = self._other_processes or nullcontext()
        with self._transaction, exclusive, INGRESS_COMMIT_SECONDS.time():
            fired = self._commit(items, deliveries, executions)
        if self._fsync:
            with INGRESS_SYNC_SECONDS.time():
                self.sync()
        return fired

    def _commit(
        self, items: Sequence[Accepted], deliveries: Statement, executions: list[Statement]
    ) -> list[list[str]]:
        pooled = self._engine.raw_connection()
        try:
            connection = pooled.driver_connection
            assert connection is not None
            cursor = connection.cursor()
            cursor.execute("BEGIN IMMEDIATE")
            try:
                fired = self._insert(cursor, items, deliveries, executions)
                cursor.execute("COMMIT")
            except BaseException:
                if connection.in_transaction:
                    connection.rollback()
                raise
            return fired
        finally:
            pooled.close()

    def sync(self) -> None:
        """Make every batch committed so far durable (db/engine.py `sync_wal`)."""
        sync_wal(self._database)

    def _statements(self, items: Sequence[Accepted]) -> tuple[Statement, list[Statement]]:
        """The batch's INSERTs, values encoded: built before SQLite's write lock is taken."""
        deliveries = [item.delivery for item in items]
        keys = tuple(deliveries[0])
        insert_deliveries = (
            _insert_sql(self._deliveries.table, keys, len(deliveries)),
            [v for row in deliveries for v in self._deliveries.encode(row, keys)],
        )
        rows = [r for item in items for r in execution_rows(item, self._default_max_attempts)]
        keys = tuple(rows[0])
        chunks = [rows[i : i + ROWS_PER_STATEMENT] for i in range(0, len(rows), ROWS_PER_STATEMENT)]
        insert_executions = [
            (
                _insert_sql(self._executions.table, keys, len(chunk), _ON_CONFLICT),
                [v for row in chunk for v in self._executions.encode(row, keys)],
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

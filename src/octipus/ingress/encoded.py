"""A batch of deliveries as rows of values, and the one statement that enqueues it.

Every path that stores deliveries uses `insert`: PostgreSQL's (ingress/accept.py
`record_deliveries`), SQLite's writer on a serving process's event loop (ingress/sqlite_writer.py)
and the ingress writer process (ingress/writer_process.py), which merges the batches of every
serving process into one transaction. Rows are encoded for the driver by each column type's own
bind processor (ingress/sqlite_writer.py `BatchEncoder`); a serving process sends the writer
process its rows plain (timestamps as integers, JSON as dicts) and the writer process encodes
them, which takes that work off the serving process's event loop.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from octipus.db.connectors.sqlite import sqlite_dialect
from octipus.db.ids import new_id
from octipus.db.tables import Delivery, Execution

if TYPE_CHECKING:
    from octipus.ingress.accept import Accepted

Processor = Callable[[Any], Any]
WAITING = ("queued", "held")  # not finished: queued now, or held until the hook is resumed

DELIVERIES, EXECUTIONS = Delivery.__tablename__, Execution.__tablename__
ROWS_PER_STATEMENT = 500  # x 16 columns stays well under SQLite's 32766 bound variables
Execute = Callable[[str, Sequence[Any]], Iterable[Any]]  # a driver's execute: SQL, values → rows
Placeholder = Callable[[int], str]  # the n-th (0-based) parameter's mark: "?", "$1" (connectors)
_ON_CONFLICT = " ON CONFLICT (hook_id, dedupe_key) DO NOTHING RETURNING delivery_pk, hook_id"


@dataclass(frozen=True)
class BatchRows:
    """A batch's rows: each table's column names and its rows (lists of values, plain or
    encoded for the driver)."""

    delivery_keys: tuple[str, ...]
    deliveries: list[list[Any]]
    execution_keys: tuple[str, ...]
    executions: list[list[Any]]
    delivery_ids: list[str]  # the deliveries' primary keys, in the batch's order

    def as_message(self) -> tuple[Any, ...]:
        """Plain tuples and lists, as `marshal` sends them to the writer process."""
        return (
            self.delivery_keys,
            self.deliveries,
            self.execution_keys,
            self.executions,
            self.delivery_ids,
        )

    @classmethod
    def from_message(cls, message: Sequence[Any]) -> BatchRows:
        keys, deliveries, execution_keys, executions, ids = message
        return cls(tuple(keys), deliveries, tuple(execution_keys), executions, ids)


def execution_rows(item: Accepted, default_max_attempts: int) -> list[dict[str, Any]]:
    """One `executions` row per planned hook, created at the delivery's arrival."""
    delivery = item.delivery
    now = delivery["received_at"]
    return [
        {
            "id": new_id(),
            "hook_id": entry.id,
            "delivery_pk": delivery["id"],
            "dedupe_key": delivery["delivery_id"],
            "source": "hook",
            "status": outcome.status,
            "attempts": 0,
            "max_attempts": entry.max_attempts or default_max_attempts,
            "trigger_type": "webhook",
            "action_type": entry.action,
            "result": outcome.result,
            "created_at": now,
            "changed_at": now,
            "run_after": now,
            "finished_at": None if outcome.status in WAITING else now,
            "duration_ms": None if outcome.status in WAITING else 0,
        }
        for entry, outcome in item.planned
    ]


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


def merged(batches: Sequence[BatchRows]) -> BatchRows:
    """One batch holding all of `batches`, in order (all built by the same code, same columns)."""
    first = batches[0]
    if len(batches) == 1:
        return first
    columns = (first.delivery_keys, first.execution_keys)
    for batch in batches[1:]:
        if (batch.delivery_keys, batch.execution_keys) != columns:
            raise ValueError("batches with different columns cannot share a transaction")
    return BatchRows(
        first.delivery_keys,
        [row for b in batches for row in b.deliveries],
        first.execution_keys,
        [row for b in batches for row in b.executions],
        [i for b in batches for i in b.delivery_ids],
    )


def insert(execute: Execute, batch: BatchRows, mark: Placeholder) -> list[list[str]]:
    """Insert `batch` (encoded) in the caller's transaction; per delivery, the hooks that fired.

    Executions are unique per (hook, sender's delivery id): a duplicate inserts nothing for that
    hook, and a delivery whose every hook was a duplicate is deleted again.
    """
    _insert_rows(execute, mark, DELIVERIES, batch.delivery_keys, batch.deliveries)
    inserted = _insert_rows(
        execute, mark, EXECUTIONS, batch.execution_keys, batch.executions, returning=True
    )
    fired, unused = fired_hooks(batch.delivery_ids, inserted)
    if unused:
        marks = ",".join(map(mark, range(len(unused))))
        execute(f"DELETE FROM {DELIVERIES} WHERE id IN ({marks})", unused)
    return fired


def fired_hooks(
    delivery_ids: Sequence[str], inserted: Iterable[tuple[str, str]]
) -> tuple[list[list[str]], list[str]]:
    """Per delivery, the hooks whose execution was inserted; and the deliveries left with none."""
    fired: dict[str, list[str]] = {pk: [] for pk in delivery_ids}
    for delivery_pk, hook_id in inserted:
        fired[delivery_pk].append(hook_id)
    unused = [pk for pk, hooks in fired.items() if not hooks]
    return [fired[pk] for pk in delivery_ids], unused


def _insert_rows(
    execute: Execute,
    mark: Placeholder,
    table: str,
    keys: tuple[str, ...],
    rows: list[list[Any]],
    returning: bool = False,
) -> list[tuple[str, str]]:
    """Multi-row INSERTs of `rows`, ROWS_PER_STATEMENT rows at a time."""
    suffix = _ON_CONFLICT if returning else ""
    out: list[tuple[str, str]] = []
    for start in range(0, len(rows), ROWS_PER_STATEMENT):
        chunk = rows[start : start + ROWS_PER_STATEMENT]
        values = [v for row in chunk for v in row]
        result = execute(_insert_sql(mark, table, keys, len(chunk), suffix), values)
        if returning:
            out.extend(result)
    return out


@lru_cache(maxsize=512)
def _insert_sql(
    mark: Placeholder, table: str, keys: tuple[str, ...], rows: int, suffix: str
) -> str:
    width = len(keys)
    values = ",".join(
        "(" + ",".join(mark(row * width + i) for i in range(width)) + ")" for row in range(rows)
    )
    return f"INSERT INTO {table} ({','.join(keys)}) VALUES {values}{suffix}"

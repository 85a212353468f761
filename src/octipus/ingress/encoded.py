"""A batch of deliveries as rows of values, and the SQL that stores it.

Both ingress writers use it: the one on a serving process's event loop (ingress/sqlite_writer.py)
and the ingress writer process (ingress/writer_process.py), which merges the batches of every
serving process into one transaction. A serving process sends its rows plain (timestamps as
integers, JSON as dicts) and the writer process encodes them (ingress/sqlite_writer.py
`BatchEncoder`), which takes that work off the serving process's event loop.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

DELIVERIES, EXECUTIONS = "deliveries", "executions"  # db/tables.py; a unit test keeps them equal
ROWS_PER_STATEMENT = 500  # x 16 columns stays well under SQLite's 32766 bound variables
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


def insert(cursor: sqlite3.Cursor, batch: BatchRows) -> list[list[str]]:
    """Insert `batch` (encoded) in the caller's transaction; per delivery, the hooks that fired.

    Executions are unique per (hook, sender's delivery id): a duplicate inserts nothing for that
    hook, and a delivery whose every hook was a duplicate is deleted again.
    """
    _insert_rows(cursor, DELIVERIES, batch.delivery_keys, batch.deliveries)
    inserted = _insert_rows(cursor, EXECUTIONS, batch.execution_keys, batch.executions, True)
    fired, unused = fired_hooks(batch.delivery_ids, inserted)
    if unused:
        marks = ",".join("?" * len(unused))
        cursor.execute(f"DELETE FROM {DELIVERIES} WHERE id IN ({marks})", unused)
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
    cursor: sqlite3.Cursor,
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
        result = cursor.execute(_insert_sql(table, keys, len(chunk), suffix), values)
        if returning:
            out.extend(result)
    return out


@lru_cache(maxsize=512)
def _insert_sql(table: str, keys: tuple[str, ...], rows: int, suffix: str) -> str:
    placeholders = "(" + ",".join("?" * len(keys)) + ")"
    values = ",".join([placeholders] * rows)
    return f"INSERT INTO {table} ({','.join(keys)}) VALUES {values}{suffix}"

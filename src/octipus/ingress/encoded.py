"""A batch of deliveries as SQLite driver values, and the SQL that stores it.

Both ingress writers use it: the one on a serving process's event loop (ingress/sqlite_writer.py)
and the ingress writer process (ingress/writer_process.py), which merges the batches of every
serving process into one transaction. Standard library only, so that the writer process stays
small: the values were encoded by the serving process (ingress/sqlite_writer.py `BatchEncoder`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

DELIVERIES, EXECUTIONS = "deliveries", "executions"  # db/tables.py; a unit test keeps them equal
ROWS_PER_STATEMENT = 500  # x 15 columns stays well under SQLite's 32766 bound variables
_ON_CONFLICT = " ON CONFLICT (hook_id, dedupe_key) DO NOTHING RETURNING delivery_pk, hook_id"


@dataclass(frozen=True)
class EncodedBatch:
    """Rows ready for the driver: each table's column names and its values, row after row."""

    delivery_keys: tuple[str, ...]
    deliveries: list[Any]
    execution_keys: tuple[str, ...]
    executions: list[Any]
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
    def from_message(cls, message: Sequence[Any]) -> EncodedBatch:
        keys, deliveries, execution_keys, executions, ids = message
        return cls(tuple(keys), deliveries, tuple(execution_keys), executions, ids)


def merged(batches: Sequence[EncodedBatch]) -> EncodedBatch:
    """One batch holding all of `batches`, in order (all built by the same code, same columns)."""
    first = batches[0]
    if len(batches) == 1:
        return first
    columns = (first.delivery_keys, first.execution_keys)
    for batch in batches[1:]:
        if (batch.delivery_keys, batch.execution_keys) != columns:
            raise ValueError("batches with different columns cannot share a transaction")
    return EncodedBatch(
        first.delivery_keys,
        [v for b in batches for v in b.deliveries],
        first.execution_keys,
        [v for b in batches for v in b.executions],
        [i for b in batches for i in b.delivery_ids],
    )


def insert(cursor: sqlite3.Cursor, batch: EncodedBatch) -> list[list[str]]:
    """Insert `batch` in the caller's transaction; per delivery, the hooks that fired.

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
    values: list[Any],
    returning: bool = False,
) -> list[tuple[str, str]]:
    """Multi-row INSERTs of `values` (row after row), ROWS_PER_STATEMENT rows at a time."""
    width = len(keys)
    rows = len(values) // width
    suffix = _ON_CONFLICT if returning else ""
    out: list[tuple[str, str]] = []
    for start in range(0, rows, ROWS_PER_STATEMENT):
        count = min(ROWS_PER_STATEMENT, rows - start)
        chunk = values[start * width : (start + count) * width]
        result = cursor.execute(_insert_sql(table, keys, count, suffix), chunk)
        if returning:
            out.extend(result)
    return out


@lru_cache(maxsize=512)
def _insert_sql(table: str, keys: tuple[str, ...], rows: int, suffix: str) -> str:
    placeholders = "(" + ",".join("?" * len(keys)) + ")"
    values = ",".join([placeholders] * rows)
    return f"INSERT INTO {table} ({','.join(keys)}) VALUES {values}{suffix}"

"""The raw SQLite ingress writer stores exactly what SQLAlchemy would (ingress/sqlite_writer.py)."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa

from octipus.config import Settings
from octipus.db.connectors import create_engine
from octipus.db.connectors.sqlite import create_writer_engine
from octipus.db.engine import upgrade_schema
from octipus.db.tables import Hook, User
from octipus.hooks.cache import HookEntry
from octipus.ingress.accept import Accepted, Outcome, record_deliveries
from octipus.ingress.sqlite_writer import SQLiteDeliveryWriter
from octipus.ingress.verify import build_verifier

VARYING = {"id", "delivery_id", "dedupe_key", "delivery_pk"}


async def _database(tmp_path: Path) -> Settings:
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/t.db", data_dir=tmp_path)
    engine = create_engine(settings)
    await upgrade_schema(engine)
    await engine.dispose()
    return settings


def _entries(writer: sa.Engine) -> list[HookEntry]:
    now = datetime.now(UTC)
    with writer.begin() as conn:
        conn.execute(sa.insert(User).values(id="u", name="u", is_admin=False, created_at=now))
        for hook_id in ("h1", "h2"):
            conn.execute(
                sa.insert(Hook).values(
                    id=hook_id, owner_id="u", name=hook_id, webhook_path="p", action="webhook",
                    trigger_config={}, action_config={}, conditions=[], created_at=now,
                    updated_at=now,
                )
            )  # fmt: skip
    verifier = build_verifier({"webhookSecret": "s"})
    return [
        HookEntry(h, h, "webhook", "github", verifier, frozenset(), [], None, (), "u")
        for h in ("h1", "h2")
    ]


def _item(entries: list[HookEntry], delivery_id: str) -> Accepted:
    delivery = {
        "id": f"pk-{delivery_id}",
        "path": "p",
        "delivery_id": delivery_id,
        "event_type": "push",
        "method": "POST",
        "content_type": "application/json",
        "headers": {"x-github-event": "push", "user-agent": "GitHub-Hookshot/1"},
        "query": {"a": "1"},
        "body": b'{"zen":"ok"}',
        "received_at": datetime(2025, 1, 2, 3, 4, 5, 678901, tzinfo=UTC),
    }
    planned = [
        (entries[0], Outcome("queued")),
        (entries[1], Outcome("skipped", {"skipped": "conditions did not match"})),
    ]
    return Accepted(delivery, planned)


def _rows(path: Path, table: str, delivery_id: str) -> list[dict[str, object]]:
    column = "delivery_id" if table == "deliveries" else "dedupe_key"
    order = " order by hook_id" if table == "executions" else ""
    with sqlite3.connect(path) as db:
        cursor = db.execute(f"select * from {table} where {column} = ?{order}", (delivery_id,))
        names = [d[0] for d in cursor.description]
        rows = cursor.fetchall()
    return [{k: v for k, v in zip(names, row, strict=True) if k not in VARYING} for row in rows]


async def test_rows_match_what_sqlalchemy_writes(tmp_path: Path):
    settings = await _database(tmp_path)
    engine = create_writer_engine(settings)
    assert engine is not None
    entries = _entries(engine)
    assert SQLiteDeliveryWriter(engine, 8).write([_item(entries, "raw")]) == [["h1", "h2"]]
    with engine.begin() as conn:
        assert record_deliveries(conn, [_item(entries, "orm")], 8) == [["h1", "h2"]]
    for table in ("deliveries", "executions"):
        raw, orm = _rows(tmp_path / "t.db", table, "raw"), _rows(tmp_path / "t.db", table, "orm")
        assert raw and raw == orm
    engine.dispose()


async def test_a_repeated_delivery_fires_nothing_and_leaves_no_delivery(tmp_path: Path):
    settings = await _database(tmp_path)
    engine = create_writer_engine(settings)
    assert engine is not None
    writer = SQLiteDeliveryWriter(engine, 8)
    entries = _entries(engine)
    first = _item(entries, "once")
    again = Accepted({**first.delivery, "id": "pk-again"}, first.planned)
    assert writer.write([first, again]) == [["h1", "h2"], []]
    assert len(_rows(tmp_path / "t.db", "deliveries", "once")) == 1
    engine.dispose()

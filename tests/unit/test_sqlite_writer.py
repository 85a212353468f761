"""SQLite's ingress writer stores what SQLAlchemy reads back as accepted (sqlite_writer.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.orm import Session

from octipus.config import Settings
from octipus.db.connectors import create_engine
from octipus.db.connectors.sqlite import create_writer_engine
from octipus.db.engine import upgrade_schema
from octipus.db.tables import Delivery, Execution, Hook, User
from octipus.hooks.cache import HookEntry
from octipus.ingress.accept import Accepted, Outcome
from octipus.ingress.providers.verifier import build_verifier
from octipus.ingress.sqlite_writer import SQLiteDeliveryWriter


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


def _stored(engine: sa.Engine, pk: str) -> tuple[Delivery | None, list[Execution]]:
    """The delivery `pk` and its executions, read back through the ORM."""
    with Session(engine) as session:
        delivery = session.get(Delivery, pk)
        executions = session.scalars(
            sa.select(Execution).where(Execution.delivery_pk == pk).order_by(Execution.hook_id)
        ).all()
        return delivery, list(executions)


async def test_rows_read_back_through_sqlalchemy_as_they_were_accepted(tmp_path: Path):
    settings = await _database(tmp_path)
    engine = create_writer_engine(settings)
    assert engine is not None
    item = _item(_entries(engine), "raw")
    writer = SQLiteDeliveryWriter(engine, 8)
    assert writer.write([item]) == [["h1", "h2"]]
    writer.close()  # its connection back to the pool of one
    delivery, (queued, skipped) = _stored(engine, "pk-raw")
    assert delivery is not None
    for key, value in item.delivery.items():
        assert getattr(delivery, key) == value, key
    arrived = item.delivery["received_at"]
    assert (queued.status, queued.result, queued.finished_at) == ("queued", None, None)
    assert (queued.created_at, queued.run_after, queued.max_attempts) == (arrived, arrived, 8)
    assert (skipped.status, skipped.finished_at) == ("skipped", arrived)
    assert skipped.result == {"skipped": "conditions did not match"}
    assert queued.dedupe_key == skipped.dedupe_key == "raw"
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
    writer.close()  # its connection back to the pool of one
    with engine.connect() as conn:
        stored = conn.scalar(sa.select(sa.func.count()).where(Delivery.delivery_id == "once"))
    assert (stored, _stored(engine, "pk-again")) == (1, (None, []))
    engine.dispose()

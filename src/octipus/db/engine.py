"""What every engine shares: JSON encoding, read-only sessions, schema upgrades.

Engines themselves are made by their connector (db/connectors/).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def _json_dumps(value: Any) -> str:
    """JSON columns are written with orjson; what it refuses (ints past 64 bits) by the stdlib."""
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
    except orjson.JSONEncodeError:
        return json.dumps(value)


JSON_CODEC: dict[str, Any] = {"json_serializer": _json_dumps}


READ_ONLY: dict[str, Any] = {"octipus_read_only": True}
"""Connection execution options for a transaction that only reads: on SQLite it begins DEFERRED
and so never waits for (or holds) the write lock. Never write on such a connection."""


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


async def upgrade_schema(engine: AsyncEngine) -> None:
    """Apply every Alembic migration up to head on this engine's database (callers hold their
    connector's `schema_lock`)."""
    from alembic import command
    from alembic.config import Config

    def _run(sync_conn: Any) -> None:
        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
        cfg.attributes["connection"] = sync_conn
        command.upgrade(cfg, "head")

    async with engine.begin() as conn:
        await conn.run_sync(_run)

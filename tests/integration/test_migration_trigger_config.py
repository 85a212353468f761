"""Migration 0007: hooks stored with a field their provider ignores keep verifying."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from octipus.db.engine import MIGRATIONS_DIR
from octipus.ingress.providers.verifier import build_verifier

NOW = datetime(2026, 1, 1)
JSON = sa.JSON().with_variant(JSONB(), "postgresql")
STORED = {
    "stripe": {"provider": "stripe", "webhookSecret": "s", "allowSha1": True, "prefix": "x"},
    "auto": {"webhookSecret": "s", "allowSha1": True, "algorithm": "sha1", "encoding": "hex"},
    "hmac": {"provider": "hmac", "webhookSecret": "s", "signatureHeader": "X-S", "prefix": "v="},
}
INSERT = sa.text(
    "INSERT INTO hooks (id, owner_id, name, trigger, webhook_path, trigger_config, action,"
    " action_config, conditions, is_enabled, priority, execution_count, cooldown_ms,"
    " created_at, updated_at) VALUES (:id, 'u', :id, 'webhook', 'p', :config, 'notify', '{}',"
    " '[]', true, 0, 0, 0, :now, :now)"
).bindparams(
    sa.bindparam("config", type_=JSON),
    sa.bindparam("now", type_=sa.DateTime()),
)


def _config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg


# The revision just before this migration, wherever the chain puts it.
BEFORE = str(ScriptDirectory.from_config(_config()).get_revision("0007").down_revision)


async def _upgrade(engine: AsyncEngine, revision: str) -> None:
    def run(conn: Any) -> None:
        cfg = _config()
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)

    async with engine.begin() as conn:
        await conn.run_sync(run)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 't.db'}"
    return str(request.getfixturevalue("pg_database_url"))


async def test_fields_a_provider_ignores_are_removed_so_the_hook_verifies_again(database_url: str):
    engine = create_async_engine(database_url)
    await _upgrade(engine, BEFORE)
    async with engine.begin() as conn:
        await conn.execute(
            sa.text("INSERT INTO users (id, name, is_admin, created_at) VALUES ('u','u',false,:n)"),
            {"n": NOW},
        )
        for hook_id, config in STORED.items():
            await conn.execute(INSERT, {"id": hook_id, "config": config, "now": NOW})
    assert all(build_verifier(c).provider == "none" for k, c in STORED.items() if k != "hmac")

    await _upgrade(engine, "head")

    column = sa.column("trigger_config", JSON)
    async with engine.connect() as conn:
        rows = await conn.execute(sa.select(sa.column("id"), column).select_from(sa.table("hooks")))
        migrated = {hook_id: config for hook_id, config in rows}
    await engine.dispose()
    assert migrated == {
        "stripe": {"provider": "stripe", "webhookSecret": "s"},
        "auto": {"webhookSecret": "s", "allowSha1": True},
        "hmac": STORED["hmac"],
    }
    assert {k: build_verifier(c).provider for k, c in migrated.items()} == {
        "stripe": "stripe",
        "auto": "auto",
        "hmac": "hmac",
    }

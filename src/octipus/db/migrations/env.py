"""Alembic environment: runs on the connection handed over by `upgrade_schema`, or on
OCTIPUS_DATABASE_URL when invoked as `alembic -c src/octipus/db/migrations/alembic.ini`."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from octipus.db.tables import Base

target_metadata = Base.metadata


def _run_on(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_standalone() -> None:
    from octipus.config import Settings
    from octipus.db.connectors import create_engine

    engine = create_engine(Settings())
    async with engine.begin() as conn:
        await conn.run_sync(_run_on)
    await engine.dispose()


connection = context.config.attributes.get("connection")
if connection is not None:
    _run_on(connection)
else:
    asyncio.run(_run_standalone())

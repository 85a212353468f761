"""`octipus db upgrade`."""

from __future__ import annotations

import asyncio

import typer

from octipus.config import Settings

app = typer.Typer(no_args_is_help=True, help="Database schema.")


@app.command()
def upgrade() -> None:
    """Apply all migrations (the server also does this on start)."""
    from octipus.db.connectors import connector_for
    from octipus.db.engine import upgrade_schema

    async def _run() -> None:
        settings = Settings()
        connector = connector_for(settings.database_url)
        engine = connector.create_engine(settings)
        try:
            async with connector.schema_lock(engine):  # other nodes may be migrating now
                await upgrade_schema(engine)
        finally:
            await engine.dispose()

    asyncio.run(_run())
    typer.echo("database schema is up to date")

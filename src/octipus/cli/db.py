"""`octipus db upgrade [--create]`."""

from __future__ import annotations

import asyncio

import typer

from octipus.cli.client import existing_database
from octipus.config import Settings

app = typer.Typer(no_args_is_help=True, help="Database schema.")


@app.command()
def upgrade(
    create: bool = typer.Option(False, "--create", help="Make the SQLite file if it is missing."),
) -> None:
    """Apply all migrations (the server also does this on start)."""
    from octipus.db.connectors import connector_for
    from octipus.db.engine import upgrade_schema

    settings = Settings() if create else existing_database(Settings())

    async def _run() -> None:
        connector = connector_for(settings.database_url)
        engine = connector.create_engine(settings)
        try:
            async with connector.schema_lock(engine):  # other nodes may be migrating now
                await upgrade_schema(engine)
        finally:
            await engine.dispose()

    asyncio.run(_run())
    typer.echo("database schema is up to date")

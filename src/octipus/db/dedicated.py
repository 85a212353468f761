"""A PostgreSQL connection of its own, outside the engine's pool.

For what lives exactly as long as one connection: LISTEN registrations and session advisory
locks. When the process dies, the server closes the connection and ends both.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import make_url


async def connect_dedicated(database_url: str, purpose: str) -> Any:
    """An asyncpg connection to the PostgreSQL database of `database_url` (an SQLAlchemy URL),
    named `octipus-<purpose>` in pg_stat_activity."""
    import asyncpg

    url = make_url(database_url).set(drivername="postgresql")
    return await asyncpg.connect(
        url.render_as_string(hide_password=False),
        server_settings={"application_name": f"octipus-{purpose}"},
    )

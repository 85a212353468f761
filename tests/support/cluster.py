"""Several nodes on one PostgreSQL database, started together, and direct database access."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import asyncpg
from cryptography.fernet import Fernet
from sqlalchemy.engine import make_url

from tests.support.server import ServerProcess

SERVE = ["serve"]
API_ONLY = ["serve", "--no-worker"]
WORKER = ["worker"]


def start_nodes(
    server_factory: Callable[..., ServerProcess],
    env: dict[str, str],
    kinds: Sequence[list[str]],
) -> list[ServerProcess]:
    """One node per entry of `kinds` (`SERVE`, `API_ONLY`, `WORKER`), all started at once,
    sharing one secret key (as every node of a cluster must: README, Scale-out)."""
    env = {"OCTIPUS_SECRET_KEY": Fernet.generate_key().decode(), **env}
    nodes = [
        server_factory(
            env=env,
            args=args,
            ready_log="worker started" if args == WORKER else None,
            autostart=False,
        )
        for args in kinds
    ]
    with ThreadPoolExecutor(len(nodes)) as pool:
        list(pool.map(ServerProcess.start, nodes))
    return nodes


def pg_run(database_url: str, query: str, *args: Any) -> list[asyncpg.Record]:
    """The rows of `query` run directly on the test database."""
    dsn = make_url(database_url).set(drivername="postgresql").render_as_string(False)

    async def run() -> list[asyncpg.Record]:
        conn = await asyncpg.connect(dsn)
        try:
            return list(await conn.fetch(query, *args))
        finally:
            await conn.close()

    return asyncio.run(run())

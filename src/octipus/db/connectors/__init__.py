"""One connector per database engine: what differs between SQLite and PostgreSQL lives here.

Ingress, queue, API and cluster code call one interface (`Connector`) and never ask which engine
they run on. Each connector owns its engine's connections (the engine and, on SQLite, the extra
engines whose transactions run on one thread), transactions' side effects (SQLite: syncing the
WAL after a commit), LISTEN/NOTIFY (PostgreSQL; on SQLite every writer is in this machine's
processes and wakes its workers directly), and locks: the schema lock, the leader lock, the
per-hook claim locks and the hook row locks (PostgreSQL; SQLite has one writer at a time).

The connector is chosen once from the database URL (`connector_for`, held by the Runtime). Code
that holds only a session or connection (queue statements, the ORM event that notifies hook
changes) finds the same connector by its dialect (`connector_of`).

What may stay outside: pure SQL-dialect syntax inside SQLAlchemy types and migrations (the
datetime time zone of db/tables.py, JSONB in db/tables.py and db/sealed.py, batch mode in the
migrations' env.py): SQLAlchemy's own per-dialect type machinery, not engine behaviour.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Protocol

from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from octipus.config import Settings
from octipus.db.connectors.postgres import PostgresConnector
from octipus.db.connectors.sqlite import SQLiteConnector

if TYPE_CHECKING:
    from octipus.cluster.leader import LeaderLock
    from octipus.db.thread import DatabaseThread

NEW_WORK = "octipus_executions"  # executions were queued
HOOK_CHANGES = "octipus_hooks"  # a hook row was written


class Listening(Protocol):
    """A LISTEN kept alive in the background (started and stopped with its owner)."""

    async def start(self) -> None: ...
    async def stop(self) -> None: ...


class Connector(Protocol):
    """What the rest of Octipus asks of a database engine."""

    name: str
    row_locks: bool
    """True: claimers lock the rows they take (FOR UPDATE SKIP LOCKED, in a LATERAL join) and
    run at once; False: one writer at a time (SQLite's write lock), so counts are exact."""
    shared_by_nodes: bool
    """True: several machines may run nodes on one database (each needs the same secret key)."""

    def placeholder(self, index: int) -> str:
        """The driver's placeholder for the `index`-th (0-based) positional parameter."""
        ...

    def create_engine(self, settings: Settings) -> AsyncEngine: ...

    def schema_lock(self, engine: AsyncEngine) -> AbstractAsyncContextManager[None]:
        """Held while one process migrates and creates the first admin."""
        ...

    def leader_lock(self, settings: Settings) -> LeaderLock: ...

    def worker_database(self, settings: Settings, name: str) -> DatabaseThread | None:
        """Where a worker runs its transactions (None: the runtime's sessions)."""
        ...

    def ingress_engine(self, settings: Settings) -> Engine | None:
        """A blocking engine for this process's own ingress writer (None: the async engine)."""
        ...

    async def notify(self, session: AsyncSession, channel: str) -> None:
        """Notify `channel`'s listeners when this transaction commits."""
        ...

    def notify_sync(self, connection: Connection, channel: str) -> None: ...

    def listen(
        self,
        database_url: str,
        channel: str,
        on_notify: Callable[[], None],
        on_connected: Callable[[], None] | None = None,
        on_lost: Callable[[], None] | None = None,
    ) -> Listening | None:
        """Call `on_notify` for every notification on `channel` from any process (None: the
        engine has none; callers then rely on in-process signals and polling)."""
        ...

    async def lock_for_claim(self, session: AsyncSession, hook_ids: Sequence[str]) -> bool:
        """Serialize claimers of these capped hooks until commit; True when locks were taken
        (counts read before may be stale and must be read again)."""
        ...

    async def lock_hook_rows(self, session: AsyncSession, hook_ids: Sequence[str]) -> None:
        """Lock these hooks' rows in id order before any is written (no deadlock cycle)."""
        ...


_CONNECTORS: dict[str, Connector] = {
    "sqlite": SQLiteConnector(),
    "postgresql": PostgresConnector(),
}


def connector_for(database_url: str) -> Connector:
    """The connector of the engine that `database_url` names."""
    backend = make_url(database_url).get_backend_name()
    try:
        return _CONNECTORS[backend]
    except KeyError:
        raise ValueError(
            f"unsupported database '{backend}' in OCTIPUS_DATABASE_URL: use sqlite+aiosqlite:// "
            "or postgresql+asyncpg://"
        ) from None


def connector_of(bind: AsyncSession | Connection | Engine) -> Connector:
    """The connector of the engine under a session or connection."""
    dialect = bind.get_bind().dialect if isinstance(bind, AsyncSession) else bind.dialect
    return _CONNECTORS[dialect.name]


def create_engine(settings: Settings) -> AsyncEngine:
    """The async engine for `settings.database_url`, prepared by its connector."""
    return connector_for(settings.database_url).create_engine(settings)

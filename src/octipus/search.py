"""Search in the deliveries' bodies (`q` of the execution log).

SQLite: an FTS5 table `delivery_search` (rowid = the delivery's rowid) holds the words of each
body's first `INDEXED_BYTES`. It is filled by the leader in batches (`SearchIndexer`), not at
ingest, so the ingress hot path writes nothing more; a new delivery is searchable within
OCTIPUS_SEARCH_INDEX_INTERVAL_SECONDS. SQLite assigns rowids in commit order (one writer), so
"rowid above the highest indexed" is exactly the deliveries not yet indexed. Retention removes a
body's words before it deletes or clears the body (`forget`). `q` is matched as one phrase
(words in order), never as FTS syntax.

PostgreSQL: no index; `q` is found in the raw body bytes (`strpos`), which stays fast when other
filters (hook, time range) narrow the rows.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from octipus.background import PeriodicService
from octipus.db.tables import Delivery, Execution

log = logging.getLogger(__name__)

BATCH = 500  # deliveries indexed per transaction: ~35 ms of the write lock each
INDEXED_BYTES = 65536  # of each body

_INDEX_NEW = sa.text(
    "INSERT INTO delivery_search (rowid, body) "
    f"SELECT rowid, CAST(substr(body, 1, {INDEXED_BYTES}) AS TEXT) FROM deliveries "
    "WHERE rowid > coalesce((SELECT rowid FROM delivery_search ORDER BY rowid DESC LIMIT 1), 0) "
    "AND body_pruned_at IS NULL ORDER BY rowid LIMIT :batch"
)
_FORGET = sa.text(
    "DELETE FROM delivery_search WHERE rowid IN (SELECT rowid FROM deliveries WHERE id IN :ids)"
).bindparams(sa.bindparam("ids", expanding=True))
# FTS5 walks a phrase's matches in rowid order, newest first here, and stops at the limit.
_MATCHES = sa.text(
    "SELECT rowid FROM delivery_search WHERE delivery_search MATCH :phrase "
    "ORDER BY rowid DESC LIMIT :limit"
)


def _is_sqlite(session: AsyncSession) -> bool:
    return session.get_bind().dialect.name == "sqlite"


def phrase(text: str) -> str:
    """`text` as one FTS5 phrase: its double quotes doubled, so no operator can be injected."""
    return '"' + text.replace('"', '""') + '"'


def body_contains(session: AsyncSession, text: str, limit: int) -> sa.ColumnElement[bool]:
    """The condition on executions whose delivery's body contains `text`, among the newest
    `limit` deliveries that do (the log counts no further)."""
    if _is_sqlite(session):
        matches = _MATCHES.bindparams(phrase=phrase(text), limit=limit)
        hits = matches.columns(sa.column("rowid")).subquery()
        rowid: sa.ColumnElement[int] = sa.literal_column("deliveries.rowid")
        found = sa.select(Delivery.id).where(rowid.in_(sa.select(hits.c.rowid)))
    else:
        contains = sa.text("position(:needle IN deliveries.body) > 0")
        found = (
            sa.select(Delivery.id)
            .where(contains.bindparams(needle=text.encode()))
            .order_by(Delivery.id.desc())
            .limit(limit)
        )
    return Execution.delivery_pk.in_(found)


async def index_new_deliveries(session: AsyncSession) -> int:
    """Index up to BATCH deliveries not indexed yet (SQLite); returns how many."""
    if not _is_sqlite(session):
        return 0
    result = await session.execute(_INDEX_NEW, {"batch": BATCH})
    return int(result.rowcount)  # type: ignore[attr-defined]


async def forget(session: AsyncSession, delivery_ids: Sequence[str]) -> None:
    """Remove these deliveries' words (before their bodies are deleted or cleared)."""
    if delivery_ids and _is_sqlite(session):
        await session.execute(_FORGET, {"ids": list(delivery_ids)})


class SearchIndexer(PeriodicService):
    """The leader's indexer: every `interval` seconds, index what arrived, batch by batch."""

    name = "search indexer"

    def __init__(self, sessions: async_sessionmaker[AsyncSession], interval: float):
        super().__init__()
        self.sessions = sessions
        self.interval = interval

    async def tick(self) -> int:
        return await self.catch_up()

    async def catch_up(self) -> int:
        """Index every delivery not indexed yet; returns how many."""
        total = 0
        while True:
            async with self.sessions.begin() as session:
                added = await index_new_deliveries(session)
            total += added
            if added < BATCH:
                return total
            await asyncio.sleep(0)  # let the requests and the workers in between batches

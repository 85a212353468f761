"""A path's stored deliveries as a feed for `octipus listen`: in id (arrival) order, only those
a hook of the reader accepted, each whole (its signature headers too) when no one else's hook
shared it.

A delivery's id is taken when the request arrives (db/ids.py) and its row is committed a moment
later, so rows do not always appear in id order: a feed looks back LAG_SECONDS behind what it has
already read, and skips the ids it has seen.
"""

from __future__ import annotations

import base64
import re
import time
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from octipus.db.ids import first_id_at
from octipus.db.keyring import SecretKeyError
from octipus.db.tables import Delivery, Execution, Hook, User
from octipus.ingress.headers import opened_headers

LAG_SECONDS = 10.0  # how much later than its id's time a delivery's row may be committed
ID_PAGE = 200  # ids read per query
ROW_PAGE = 20  # whole rows (bodies) read per query
CURSOR = re.compile(r"[0-9a-f]{32}")
SHARED = "another user's hook on this path also accepted it, so its signature headers stay back"


def cursor_time(cursor: str) -> float:
    """The arrival time (epoch seconds) a delivery id starts with."""
    return int(cursor[:12], 16) / 1000


def lookback(cursor: str) -> str:
    """Where to read from to miss nothing committed after `cursor` was read."""
    return first_id_at_epoch(max(0.0, cursor_time(cursor) - LAG_SECONDS))


def first_id_at_epoch(seconds: float) -> str:
    """The smallest delivery id of a delivery that arrived at `seconds` (epoch) or later."""
    return first_id_at(datetime.fromtimestamp(seconds, UTC))


def _accepted_by(user: User) -> sa.ColumnElement[bool]:
    """The delivery fired a hook of `user` (an admin reads every delivery)."""
    if user.is_admin:
        return sa.true()
    return sa.exists(
        sa.select(1)
        .select_from(Execution)
        .join(Hook, Hook.id == Execution.hook_id)
        .where(Execution.delivery_pk == Delivery.id, Hook.owner_id == user.id)
    )


def _shared_with_others(user: User) -> sa.ColumnElement[bool]:
    """The delivery also fired a hook of someone else (never so for an admin)."""
    if user.is_admin:
        return sa.false()
    return sa.exists(
        sa.select(1)
        .select_from(Execution)
        .join(Hook, Hook.id == Execution.hook_id)
        .where(Execution.delivery_pk == Delivery.id, Hook.owner_id != user.id)
    )


async def ids_after(session: AsyncSession, path: str, after: str) -> list[str]:
    """Up to ID_PAGE ids of the path's deliveries after `after`, in order (index only)."""
    query = (
        sa.select(Delivery.id)
        .where(Delivery.path == path, Delivery.id > after)
        .order_by(Delivery.id)
        .limit(ID_PAGE)
    )
    return list((await session.scalars(query)).all())


async def readable_rows(
    session: AsyncSession, user: User, ids: Sequence[str]
) -> list[tuple[Delivery, bool]]:
    """The deliveries among `ids` that `user` may read, in order, each with whether it is shared."""
    query = (
        sa.select(Delivery, _shared_with_others(user))
        .where(Delivery.id.in_(ids), _accepted_by(user))
        .order_by(Delivery.id)
    )
    return [(row[0], bool(row[1])) for row in (await session.execute(query)).all()]


def delivery_event(delivery: Delivery, shared: bool) -> dict[str, Any]:
    """What a listener gets: everything needed to replay the request as it arrived."""
    headers = dict(delivery.headers)
    withheld = SHARED if shared else None
    if not shared:
        try:
            headers.update(opened_headers(delivery.sealed_headers))
        except SecretKeyError as exc:
            withheld = f"its signature headers do not decrypt: {exc}"
    return {
        "id": delivery.id,
        "path": delivery.path,
        "deliveryId": delivery.delivery_id,
        "event": delivery.event_type,
        "method": delivery.method,
        "query": delivery.query,
        "headers": headers,
        "body": base64.b64encode(delivery.body).decode(),
        "bodyPruned": delivery.body_pruned_at is not None,
        "headersWithheld": withheld,
        "receivedAt": delivery.received_at.isoformat(),
    }


class Feed:
    """Reads a path's new deliveries for one user, poll after poll, each once."""

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], user: User, path: str, start: str
    ):
        self._sessions = sessions
        self._user = user
        self._path = path
        self._scan_from = start  # every id at or below it has been read (or is not readable)
        self._seen: set[str] = set()  # ids above `_scan_from` already read

    async def poll(self) -> AsyncIterator[dict[str, Any]]:
        """The deliveries committed since the last poll, in id order."""
        started = time.time()
        after = self._scan_from
        while True:
            async with self._sessions() as session:
                ids = await ids_after(session, self._path, after)
            new = [i for i in ids if i not in self._seen]
            for start in range(0, len(new), ROW_PAGE):
                async with self._sessions() as session:
                    rows = await readable_rows(session, self._user, new[start : start + ROW_PAGE])
                for delivery, shared in rows:
                    yield delivery_event(delivery, shared)
            self._seen.update(new)
            if len(ids) < ID_PAGE:
                break
            after = ids[-1]
        settled = first_id_at_epoch(started - LAG_SECONDS)
        if settled > self._scan_from:
            self._scan_from = settled
            self._seen = {i for i in self._seen if i > settled}

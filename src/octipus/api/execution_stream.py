"""`GET /api/executions/stream`: Server-Sent Events of execution changes the caller may see.

The cursor is `executions.changed_at`, which every write sets (db/tables.py). Each event's id is
the highest `changed_at` sent so far (microseconds since the epoch), so `Last-Event-ID` resumes
where a client stopped. A write's timestamp is taken before its transaction commits, and nodes'
clocks differ a little, so every read looks back LOOKBACK before the cursor: a change committed
late (by up to LOOKBACK) is still found. Within one stream a row is sent again only when its
status or attempt changed; after a reconnect the changes of the last LOOKBACK may come twice
(events carry a row's whole state, so a repeat is harmless).

The stream reads when this process commits a change (a worker's round, a new delivery: the
runtime's ExecutionChanges), else every OCTIPUS_STREAM_POLL_SECONDS (other processes and nodes);
a comment line keeps idle proxies from closing it; it ends after OCTIPUS_STREAM_MAX_SECONDS and
the client reconnects (the `retry` field says how soon).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import sqlalchemy as sa
from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import StreamingResponse

from octipus.api.deps import RuntimeDep, UserDep
from octipus.api.errors import ApiError
from octipus.api.http_protocol import ENDLESS
from octipus.db.tables import STATUSES, Delivery, Execution, Hook, User
from octipus.runtime import Runtime

router = APIRouter(tags=["executions"])

LOOKBACK = timedelta(seconds=5)
PAGE = 500  # rows per read; a fuller backlog is read page by page at once
MIN_READ_INTERVAL = 0.2  # seconds: a stream reads at most this often, however busy the process
RECONNECT_MS = 1000
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ERROR_LINE_CHARS = 300


@dataclass(frozen=True)
class StreamFilter:
    """Which executions a stream sends: the caller's (every one for admins), then the filters."""

    user: User
    hook_id: str | None
    status: str | None
    event: str | None
    delivery_id: str | None

    def conditions(self) -> list[sa.ColumnElement[bool]]:
        found: list[sa.ColumnElement[bool]] = []
        if not self.user.is_admin:
            found.append(Hook.owner_id == self.user.id)
        if self.hook_id:
            found.append(Execution.hook_id == self.hook_id)
        if self.status:
            found.append(Execution.status == self.status)
        if self.event:
            found.append(Delivery.event_type == self.event)
        if self.delivery_id:
            found.append(
                sa.or_(Delivery.delivery_id == self.delivery_id, Delivery.id == self.delivery_id)
            )
        return found


# Two reads, so that both engines walk ix_executions_changed whatever the filters (SQLite would
# otherwise pick an index on a filtered column and scan, e.g., every `error` row ever): the next
# page of changes, all executions; then those of them the stream sends, with what it sends.
_CHANGED_KEYS = (
    sa.select(Execution.id, Execution.changed_at)
    .where(
        sa.tuple_(Execution.changed_at, Execution.id)
        > sa.tuple_(sa.bindparam("since", type_=Execution.changed_at.type), sa.bindparam("after"))
    )
    .order_by(Execution.changed_at, Execution.id)
    .limit(PAGE)
)
_CHANGES = (
    sa.select(
        Execution.id,
        Execution.hook_id,
        Hook.name.label("hook_name"),
        Execution.source,
        Execution.status,
        Execution.attempts,
        Execution.max_attempts,
        Execution.error,
        Execution.duration_ms,
        Execution.created_at,
        Execution.started_at,
        Execution.finished_at,
        Execution.changed_at,
        Delivery.event_type,
        Delivery.delivery_id,
    )
    .join(Hook, Hook.id == Execution.hook_id)
    .outerjoin(Delivery, Delivery.id == Execution.delivery_pk)
    .where(Execution.id.in_(sa.bindparam("ids", expanding=True)))
    .order_by(Execution.changed_at, Execution.id)
)


async def _changed_since(
    runtime: Runtime, where: StreamFilter, after: tuple[datetime, str]
) -> tuple[Sequence[Any], tuple[datetime, str] | None]:
    """The visible executions among the next page of changes after `after` (changed_at, id),
    oldest change first, and where the next page starts (None: this was the last)."""
    since, last_id = after
    async with runtime.read_sessions() as session:
        keys = (await session.execute(_CHANGED_KEYS, {"since": since, "after": last_id})).all()
        if not keys:
            return [], None
        rows = await session.execute(
            _CHANGES.where(*where.conditions()), {"ids": [k.id for k in keys]}
        )
        more = (keys[-1].changed_at, keys[-1].id) if len(keys) == PAGE else None
        return rows.all(), more


def _micros(moment: datetime) -> int:
    return (moment - EPOCH) // timedelta(microseconds=1)


def parse_cursor(last_event_id: str | None) -> datetime | None:
    """The moment a `Last-Event-ID` names; None for none; 400 for one this server never sent."""
    if not last_event_id:
        return None
    if not last_event_id.isdigit() or len(last_event_id) > 20:
        raise ApiError(
            400,
            "Last-Event-ID must be the id of an event this stream sent (digits); "
            "drop the header to start from now",
        )
    return EPOCH + timedelta(microseconds=int(last_event_id))


def _kind(row: sa.Row[Any]) -> str:
    """What happened last: created (waiting, never started), started, finished or updated."""
    if row.finished_at is not None and row.status not in ("queued", "retrying", "running"):
        return "finished"
    if row.status == "running":
        return "started"
    return "created" if row.attempts == 0 else "updated"


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def event_data(row: sa.Row[Any]) -> dict[str, Any]:
    """One change as sent: the row's state now."""
    error = row.error.splitlines()[0][:ERROR_LINE_CHARS] if row.error else None
    return {
        "id": row.id,
        "hookId": row.hook_id,
        "hookName": row.hook_name,
        "source": row.source,
        "status": row.status,
        "attempts": row.attempts,
        "maxAttempts": row.max_attempts,
        "error": error,
        "durationMs": row.duration_ms,
        "event": row.event_type,
        "deliveryId": row.delivery_id,
        "createdAt": _iso(row.created_at),
        "updatedAt": _iso(row.changed_at),
    }


class ChangeFeed:
    """One stream's reads: the cursor, and what it sent recently (so a re-read sends nothing)."""

    def __init__(self, runtime: Runtime, where: StreamFilter, cursor: datetime):
        self._runtime = runtime
        self._where = where
        self.cursor = cursor
        self._sent: dict[str, tuple[datetime, str, int]] = {}  # id → (changed_at, status, try)

    async def read(self) -> list[str]:
        """The events (SSE text) of changes since the last read, looking back LOOKBACK."""
        after: tuple[datetime, str] | None = (self.cursor - LOOKBACK, "")
        events: list[str] = []
        while after is not None:
            rows, after = await _changed_since(self._runtime, self._where, after)
            events.extend(self._new(row) for row in rows if self._is_new(row))
        horizon = self.cursor - LOOKBACK
        self._sent = {k: v for k, v in self._sent.items() if v[0] >= horizon}
        return events

    def _is_new(self, row: sa.Row[Any]) -> bool:
        """Not sent yet in this state (a lease renewal moves changed_at and nothing else)."""
        sent = self._sent.get(row.id)
        return sent is None or sent[1:] != (row.status, row.attempts)

    def _new(self, row: sa.Row[Any]) -> str:
        self._sent[row.id] = (row.changed_at, row.status, row.attempts)
        self.cursor = max(self.cursor, row.changed_at)
        data = orjson.dumps(event_data(row)).decode()
        return f"id: {_micros(self.cursor)}\nevent: {_kind(row)}\ndata: {data}\n\n"


async def stream_changes(runtime: Runtime, feed: ChangeFeed) -> AsyncIterator[str]:
    """The stream's text: changes as they are committed, heartbeats when idle, then its end."""
    settings = runtime.settings
    yield f"retry: {RECONNECT_MS}\n: stream of execution changes\n\n"
    started = last_sent = time.monotonic()
    while time.monotonic() - started < settings.stream_max_seconds:
        read_at = time.monotonic()
        events = await feed.read()
        if events:
            yield "".join(events)
            last_sent = time.monotonic()
        elif time.monotonic() - last_sent >= settings.stream_heartbeat_seconds:
            yield ": heartbeat\n\n"
            last_sent = time.monotonic()
        left = settings.stream_max_seconds - (time.monotonic() - started)
        await runtime.changes.wait(max(0.0, min(settings.stream_poll_seconds, left)))
        # A busy process commits changes many times a second: read at most this often.
        await asyncio.sleep(max(0.0, MIN_READ_INTERVAL - (time.monotonic() - read_at)))


def _status(status: str | None) -> str | None:
    if not status:
        return None
    if status not in STATUSES:
        raise ApiError(400, f"status must be one of {', '.join(STATUSES)} (got {status[:40]!r})")
    return status


@router.get(
    "/api/executions/stream",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "SSE"}},
)
async def execution_stream(
    request: Request,
    user: UserDep,
    runtime: RuntimeDep,
    hook_id: str | None = Query(None, alias="hookId", max_length=64),
    status: str | None = Query(None, description=f"One of {', '.join(STATUSES)}"),
    event: str | None = Query(None, max_length=200, description="The delivery's event type"),
    delivery_id: str | None = Query(None, alias="deliveryId", max_length=200),
    last_event_id: str | None = Header(None, alias="Last-Event-ID", max_length=40),
) -> StreamingResponse:
    """Events `created`, `started`, `finished` and `updated` (retrying, requeued), each with the
    execution's state; resumable with `Last-Event-ID`. Changes after the request, or after the
    event named by Last-Event-ID."""
    where = StreamFilter(user, hook_id, _status(status), event, delivery_id)
    cursor = parse_cursor(last_event_id) or datetime.now(UTC)
    request.scope[ENDLESS] = True  # a graceful shutdown ends it (api/http_protocol.py)
    return StreamingResponse(
        stream_changes(runtime, ChangeFeed(runtime, where, cursor)),
        media_type="text/event-stream",
        # No caching; `X-Accel-Buffering: no` asks nginx not to buffer the stream.
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )

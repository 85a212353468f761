"""`GET /api/deliveries/stream`: a path's deliveries as Server-Sent Events, for `octipus listen`.

Each event is one delivery whole (method, headers with its signatures, raw body in base64), its
`id:` the delivery's id, which sorts by arrival. A client resumes with `Last-Event-ID` (or
`?after=`); deliveries from the LAG_SECONDS before that id may come again (ingress/feed.py), so
a client skips ids it has seen. A stream ends after STREAM_SECONDS; the client reconnects.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

import orjson
import sqlalchemy as sa
from fastapi import APIRouter, Depends, Header, Query
from fastapi.sse import EventSourceResponse, ServerSentEvent

from octipus.api.deps import RuntimeDep, UserDep
from octipus.api.errors import ApiError
from octipus.db.tables import Hook, User
from octipus.ingress.feed import CURSOR, Feed, first_id_at_epoch, lookback
from octipus.serving.server import EXITING

router = APIRouter(tags=["deliveries"])

STREAM_SECONDS = 300.0  # then the stream ends and the client reconnects with Last-Event-ID
POLL_SECONDS = 1.0  # deliveries stored by another process or node are seen within this
RECONNECT_MS = 1000


@dataclass(frozen=True)
class StreamStart:
    user: User
    path: str
    cursor: str  # where the caller stands: sent back as the first event's id
    start: str  # read the deliveries with ids above this one (`cursor` less the lookback)


async def _has_hook(runtime: RuntimeDep, user: User, path: str) -> bool:
    query = sa.select(Hook.id).where(Hook.webhook_path == path).limit(1)
    if not user.is_admin:
        query = query.where(Hook.owner_id == user.id)
    async with runtime.read_sessions() as session:
        return (await session.scalar(query)) is not None


async def stream_start(
    runtime: RuntimeDep,
    user: UserDep,
    path: str = Query(..., max_length=500, description="The hooks' webhook path, e.g. github"),
    after: str | None = Query(
        None, description="Resume after this delivery id (an event's id:); 32 zeros: from the start"
    ),
    since: datetime | None = Query(None, description="Start with deliveries from this time on"),
    last_event_id: str | None = Header(None, description="Set by SSE clients when they resume"),
) -> StreamStart:
    """Check the request before the stream starts, so that a mistake is a 4xx with a reason."""
    path = path.strip("/")
    if not await _has_hook(runtime, user, path):
        raise ApiError(
            404,
            f"You have no hook on path '{path[:100]}': check the path (octipus hooks list)"
            " or create a hook on it first",
        )
    cursor = last_event_id or after
    if cursor is not None:
        if not CURSOR.fullmatch(cursor):
            raise ApiError(
                400,
                "after (or Last-Event-ID) must be a delivery id as sent in an event's id:"
                " field (32 hex digits; 32 zeros to start from the oldest retained delivery)",
            )
        return StreamStart(user, path, cursor, lookback(cursor))
    start = first_id_at_epoch(max(0.0, since.timestamp() if since else time.time()))
    return StreamStart(user, path, start, start)


@router.get("/api/deliveries/stream", response_class=EventSourceResponse)
async def stream_deliveries(
    runtime: RuntimeDep, start: Annotated[StreamStart, Depends(stream_start)]
) -> AsyncIterator[ServerSentEvent]:
    """Deliveries that your hooks on `path` accepted, oldest first, then each new one as it is
    stored. First event `ready` (its id: where the stream starts), then one `delivery` event
    each: JSON with method, headers, query, body (base64). Signature headers are included
    when no other user's hook accepted the same delivery."""
    feed = Feed(runtime.read_sessions, start.user, start.path, start.start)
    # Its id is where this stream starts: a client that reconnects before any delivery came
    # resumes from there, not from the time it reconnects.
    yield ServerSentEvent(event="ready", id=start.cursor, data=start.path, retry=RECONNECT_MS)
    ends = time.monotonic() + STREAM_SECONDS
    while not (EXITING.is_set() or runtime.shutting_down) and time.monotonic() < ends:
        async for event in feed.poll():
            yield ServerSentEvent(
                event="delivery", id=event["id"], raw_data=orjson.dumps(event).decode()
            )
        await runtime.deliveries_stored.wait(min(POLL_SECONDS, max(0.0, ends - time.monotonic())))

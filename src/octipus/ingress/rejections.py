"""The bounded per-path log of refused ingress requests (DESIGN §3.4).

Bounded in rows (`rejections_per_path`, the oldest dropped) and in bytes: a row keeps at most
`rejection_header_bytes` of headers, so a path's log stays under rows x (that + ~2.5 KB).
A row is readable by admins and by the users who owned an enabled hook on its path when the
request arrived: creating a hook on someone's path later does not reveal what they were sent.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping

import sqlalchemy as sa
from fastapi import Request
from sqlalchemy.exc import SQLAlchemyError

from octipus.db.tables import Rejection
from octipus.ingress import event as events
from octipus.ingress.headers import safe_headers
from octipus.runtime import Runtime

log = logging.getLogger(__name__)

NOT_KEPT = "(not kept)"  # not a valid header name, so never a sender's


def bounded_headers(headers: Mapping[str, str], budget: int) -> dict[str, str]:
    """`headers` within `budget` characters (names and values): each value cut to a quarter of
    it, and the headers past it counted under NOT_KEPT."""
    cut = budget // 4
    kept: dict[str, str] = {}
    left, dropped = budget, 0
    for name, value in headers.items():
        if len(value) > cut:
            value = f"{value[:cut]}… ({len(value) - cut} more characters)"
        if len(name) + len(value) > left:
            dropped += 1
            continue
        kept[name] = value
        left -= len(name) + len(value)
    if dropped:
        kept[NOT_KEPT] = f"{dropped} more headers"
    return kept


def owners_field(owner_ids: Iterable[str]) -> str:
    """The `owner_ids` column: each id between spaces, so one is found with LIKE '% id %'."""
    return f" {' '.join(sorted(set(owner_ids)))} "


def readable_by(user_id: str) -> sa.ColumnElement[bool]:
    """Rows `user_id` owned a hook for when they were refused."""
    return Rejection.owner_ids.contains(f" {user_id} ", autoescape=True)


async def record_rejection(
    runtime: Runtime,
    request: Request,
    path: str,
    status: int,
    reason: str,
    headers: dict[str, str],
    owner_ids: Iterable[str],
) -> None:
    """Keep this rejection and drop the oldest beyond `rejections_per_path` for the path."""
    settings = runtime.settings
    try:
        async with runtime.sessions.begin() as session:
            session.add(
                Rejection(
                    path=path,
                    status_code=status,
                    reason=reason[:2000],
                    event_type=events.event_type(headers, None),
                    delivery_id=events.delivery_id(headers, None),
                    headers=bounded_headers(safe_headers(headers), settings.rejection_header_bytes),
                    remote_addr=request.client.host if request.client else None,
                    owner_ids=owners_field(owner_ids),
                )
            )
            await session.flush()
            newest = (
                sa.select(Rejection.id)
                .where(Rejection.path == path)
                .order_by(Rejection.received_at.desc(), Rejection.id.desc())
                .limit(settings.rejections_per_path)
            )
            await session.execute(
                sa.delete(Rejection).where(Rejection.path == path, Rejection.id.not_in(newest))
            )
    except SQLAlchemyError:
        log.exception("could not record rejection", extra={"path": path})

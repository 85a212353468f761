"""The bounded per-path log of refused ingress requests (DESIGN §3.4)."""

from __future__ import annotations

import logging

import sqlalchemy as sa
from fastapi import Request
from sqlalchemy.exc import SQLAlchemyError

from octipus.db.tables import Rejection
from octipus.ingress import event as events
from octipus.ingress.headers import safe_headers
from octipus.runtime import Runtime

log = logging.getLogger(__name__)


async def record_rejection(
    runtime: Runtime, request: Request, path: str, status: int, reason: str, headers: dict[str, str]
) -> None:
    """Keep this rejection and drop the oldest beyond `rejections_per_path` for the path."""
    keep = runtime.settings.rejections_per_path
    try:
        async with runtime.sessions.begin() as session:
            session.add(
                Rejection(
                    path=path,
                    status_code=status,
                    reason=reason[:2000],
                    event_type=events.event_type(headers, None),
                    delivery_id=events.delivery_id(headers, None),
                    headers=safe_headers(headers),
                    remote_addr=request.client.host if request.client else None,
                )
            )
            await session.flush()
            newest = (
                sa.select(Rejection.id)
                .where(Rejection.path == path)
                .order_by(Rejection.received_at.desc(), Rejection.id.desc())
                .limit(keep)
            )
            await session.execute(
                sa.delete(Rejection).where(Rejection.path == path, Rejection.id.not_in(newest))
            )
    except SQLAlchemyError:
        log.exception("could not record rejection", extra={"path": path})

"""Liveness and readiness (`/api/health`, no auth) and Prometheus metrics (`/metrics`)."""

from __future__ import annotations

import sqlalchemy as sa
from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST

from octipus import __version__
from octipus.api.deps import RuntimeDep
from octipus.api.responses import StoredJSONResponse
from octipus.metrics import QUEUE_DEPTH, exposition
from octipus.queue.queries import queue_depth

router = APIRouter()


@router.get("/api/health")
async def health(runtime: RuntimeDep) -> StoredJSONResponse:
    """200 when the database answers; 503 otherwise."""
    try:
        async with runtime.sessions() as session:
            await session.execute(sa.text("SELECT 1"))
    except Exception as exc:  # the point is to report any database failure
        return StoredJSONResponse({"status": "error", "database": str(exc)[:200]}, status_code=503)
    return StoredJSONResponse(
        {"status": "ok", "version": __version__, "shuttingDown": runtime.shutting_down}
    )


@router.get("/metrics")
async def metrics(runtime: RuntimeDep) -> Response:
    async with runtime.sessions() as session:
        QUEUE_DEPTH.set(await queue_depth(session))
    return Response(exposition(), media_type=CONTENT_TYPE_LATEST)

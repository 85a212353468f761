"""Ingress: `POST /api/webhooks/{path}` (DESIGN §3.1) and the rejection log (§3.4)."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime
from typing import Any

import orjson
import sqlalchemy as sa
from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from octipus.api.deps import SessionDep, UserDep
from octipus.db.ids import new_id
from octipus.db.tables import Hook, Rejection
from octipus.hooks.cache import HookEntry
from octipus.hooks.conditions import uses_regex
from octipus.hooks.context import trigger_context
from octipus.ingress import event as events
from octipus.ingress.accept import Accepted, Outcome, decide
from octipus.ingress.batcher import NotStored
from octipus.ingress.body import BodyTooLarge, read_body
from octipus.ingress.headers import safe_headers, sealed_headers
from octipus.ingress.payload import InvalidPayload, decode_body
from octipus.ingress.providers.core import Request as VerifyRequest
from octipus.ingress.providers.core import VerificationError
from octipus.ingress.providers.registry import URL_SIGNATURE_HEADERS, handshake_response
from octipus.ingress.rejections import readable_by, record_rejection
from octipus.metrics import DELIVERIES_ACCEPTED, DELIVERIES_DUPLICATE, DELIVERIES_REJECTED
from octipus.runtime import Runtime

log = logging.getLogger(__name__)
router = APIRouter(tags=["webhooks"])


INGRESS_PREFIX = "/api/webhooks/"


def _json(status: int, content: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(content), status, headers, "application/json")


def _error(status: int, message: str, retry_after: int | None = None) -> Response:
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
    return _json(status, {"error": message}, headers)


def internal_error() -> Response:
    return _error(500, "Internal error while receiving the webhook; retry, and see the server log")


async def _reject(
    runtime: Runtime,
    request: Request,
    path: str,
    entries: tuple[HookEntry, ...],
    status: int,
    reason: str,
    metric: str,
    headers: dict[str, str],
) -> Response:
    """Answer a refused request, count it and keep it in the rejection log for the owners of
    `entries`, the hooks it was meant for."""
    DELIVERIES_REJECTED.labels(metric).inc()
    log.info("webhook rejected", extra={"path": path, "status": status, "reason": reason})
    owners = (entry.owner_id for entry in entries)
    await record_rejection(runtime, request, path, status, reason, headers, owners)
    return _error(status, reason)


def _verified(
    entries: tuple[HookEntry, ...], request: VerifyRequest
) -> tuple[list[HookEntry], list[str]]:
    verified, reasons = [], []
    for entry in entries:
        try:
            entry.verifier.verify(request)
            verified.append(entry)
        except VerificationError as exc:
            if exc.reason not in reasons:
                reasons.append(exc.reason)
    return verified, reasons


async def _plan(
    verified: list[HookEntry], webhook: dict[str, Any], event_type: str | None
) -> list[tuple[HookEntry, Outcome]]:
    """Each verified hook's first state; the template context is built only for conditions.

    Regex conditions are decided in a thread (RE2 releases the GIL while it matches), so the
    event loop goes on serving while they run."""

    def plan() -> list[tuple[HookEntry, Outcome]]:
        return [
            (e, decide(e, event_type, trigger_context(webhook, e, None) if e.conditions else {}))
            for e in verified
        ]

    if any(uses_regex(e.conditions) for e in verified):
        return await asyncio.to_thread(plan)
    return plan()


def _public_url(request: Request, runtime: Runtime) -> str:
    """The URL the sender posted to, as it knows it (URL-signing schemes such as Twilio's sign
    it): OCTIPUS_PUBLIC_URL behind a proxy or tunnel, else the URL this request came in on."""
    base = (runtime.settings.public_url or str(request.base_url)).rstrip("/")
    query = request.url.query
    return base + request.url.path + (f"?{query}" if query else "")


async def receive_webhook(path: str, request: Request) -> Response:
    """`POST /api/webhooks/{path}`, served by api/front.py ahead of FastAPI's routing."""
    runtime: Runtime = request.app.state.runtime
    path = path.strip("/")
    entries = await runtime.hooks.for_path(path)
    if not entries:
        DELIVERIES_REJECTED.labels("not_found").inc()
        return _error(404, "Webhook not found")
    headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in request.scope["headers"]}
    if runtime.shutting_down:
        return _error(503, "Server is shutting down; retry shortly", retry_after=5)
    try:
        body = await read_body(request, runtime.settings.max_body_bytes)
    except BodyTooLarge as exc:
        return await _reject(runtime, request, path, entries, 413, str(exc), "too_large", headers)

    url = _public_url(request, runtime) if URL_SIGNATURE_HEADERS & headers.keys() else ""
    signed = VerifyRequest(headers, body, time.time(), url)
    verified, reasons = _verified(entries, signed)
    if not verified:
        return await _reject(
            runtime, request, path, entries, 401, "; ".join(reasons), "signature", headers
        )
    content_type = headers.get("content-type")
    try:
        payload = decode_body(body, content_type, runtime.settings.max_json_depth)
    except InvalidPayload as exc:
        return await _reject(runtime, request, path, entries, 400, str(exc), "bad_payload", headers)
    for entry in verified:
        answer = handshake_response(entry.provider, payload)
        if answer is not None:
            return _json(200, answer)

    if await runtime.queue_is_full():
        DELIVERIES_REJECTED.labels("queue_full").inc()
        return _error(503, "Queue is full; retry later", retry_after=30)

    event_type = events.event_type(headers, payload)
    kept_headers = safe_headers(headers, (h for e in verified for h in e.extra_sensitive_headers))
    query = dict(request.query_params) if request.scope["query_string"] else {}
    delivery = {
        "id": new_id(),
        "path": path,
        "delivery_id": events.delivery_id(headers, payload),
        "event_type": event_type,
        "method": request.method,
        "content_type": content_type,
        "headers": kept_headers,
        "sealed_headers": sealed_headers(headers, kept_headers),
        "query": query,
        "body": body,
        "received_at": datetime.now(UTC),
    }
    webhook = {
        "path": path,
        "method": request.method,
        "event": event_type,
        "deliveryId": delivery["delivery_id"],
        "headers": kept_headers,
        "query": query,
        "body": payload,
    }
    planned = await _plan(verified, webhook, event_type)
    try:
        fired = await runtime.deliveries.record(Accepted(delivery, planned))
    except NotStored as exc:
        log.warning("delivery not stored: %s", exc, extra={"path": path})
        return _error(503, "Could not store the delivery; retry", retry_after=5)
    if not fired:
        DELIVERIES_DUPLICATE.inc()
        return _json(200, {"received": True, "duplicate": True})
    DELIVERIES_ACCEPTED.inc()
    runtime.wake_workers()
    runtime.deliveries_stored.fire()
    return _json(
        202,
        {
            "received": True,
            "accepted": True,
            "hooks": len(fired),
            "deliveryId": delivery["delivery_id"] or delivery["id"],
        },
    )


@router.get("/api/webhooks/rejections")
async def list_rejections(
    user: UserDep,
    session: SessionDep,
    path: str | None = Query(None),
    limit: int = Query(50, ge=1, le=500),
) -> dict[str, Any]:
    """Refused requests, newest first; a user sees those made to a path while they owned a hook
    on it, as long as they still do (admins see all)."""
    query = sa.select(Rejection).order_by(Rejection.received_at.desc()).limit(limit)
    if path is not None:
        query = query.where(Rejection.path == path.strip("/"))
    if not user.is_admin:
        query = query.where(
            Rejection.path.in_(sa.select(Hook.webhook_path).where(Hook.owner_id == user.id)),
            readable_by(user.id),
        )
    rows = (await session.scalars(query)).all()
    return {
        "rejections": [
            {
                "id": r.id,
                "path": r.path,
                "status": r.status_code,
                "reason": r.reason,
                "eventType": r.event_type,
                "deliveryId": r.delivery_id,
                "headers": r.headers,
                "remoteAddr": r.remote_addr,
                "receivedAt": r.received_at.isoformat(),
            }
            for r in rows
        ]
    }

"""Event type and delivery id of an incoming request (DESIGN §3.1)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

DELIVERY_ID_HEADERS = (
    "x-github-delivery",
    "x-gitea-delivery",
    "x-gitlab-event-uuid",
    "x-gitlab-webhook-uuid",
    "webhook-id",
    "svix-id",
    "x-shopify-webhook-id",
    "linear-delivery",
    "idempotency-key",
    "x-idempotency-key",
    "x-request-uuid",  # Bitbucket
)

EVENT_TYPE_HEADERS = (
    "x-github-event",
    "x-gitlab-event",
    "x-gitea-event",
    "x-shopify-topic",
    "linear-event",
    "x-event-key",
)


def _first_header(headers: Mapping[str, str], names: tuple[str, ...]) -> str | None:
    for name in names:
        value = headers.get(name)
        if value:
            return value[:200]
    return None


def delivery_id(headers: Mapping[str, str], body: Any) -> str | None:
    """The sender's id for this delivery (dedupe key), or None when it sent none."""
    found = _first_header(headers, DELIVERY_ID_HEADERS)
    if found:
        return found
    if "stripe-signature" in headers and isinstance(body, Mapping):
        stripe_id = body.get("id")
        if isinstance(stripe_id, str) and stripe_id:
            return stripe_id[:200]
    return None


def event_type(headers: Mapping[str, str], body: Any) -> str | None:
    """The event name: provider headers first, else the body's `type` or `event`."""
    found = _first_header(headers, EVENT_TYPE_HEADERS)
    if found:
        return found
    if isinstance(body, Mapping):
        for key in ("type", "event"):
            value = body.get(key)
            if isinstance(value, str) and value:
                return value[:200]
    return None

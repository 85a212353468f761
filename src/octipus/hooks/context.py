"""The trigger context: what templates, conditions and the execution log see of a delivery."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Protocol

from octipus.db.tables import Delivery
from octipus.ingress.payload import InvalidPayload, decode_body

DISPLAY_BODY_CHARS = 64 * 1024


def webhook_context(delivery: Delivery, body: Any = None) -> dict[str, Any]:
    """The `webhook` part of the trigger context; `body` may be passed when already decoded."""
    if body is None:
        try:
            body = decode_body(delivery.body, delivery.content_type)
        except InvalidPayload:
            body = delivery.body.decode("utf-8", "replace")
    return {
        "path": delivery.path,
        "method": delivery.method,
        "event": delivery.event_type,
        "deliveryId": delivery.delivery_id,
        "headers": delivery.headers,
        "query": delivery.query,
        "body": body,
        "rawBody": delivery.body.decode("utf-8", "replace"),
    }


class NamedHook(Protocol):
    """What the context needs of a hook: a stored Hook or the ingress cache's HookEntry."""

    @property
    def id(self) -> str: ...
    @property
    def name(self) -> str: ...


def trigger_context(
    webhook: dict[str, Any], hook: NamedHook, execution_id: str | None
) -> dict[str, Any]:
    """The full template context of DESIGN §5."""
    return {
        "webhook": webhook,
        "hook": {"id": hook.id, "name": hook.name},
        "execution": {"id": execution_id},
        "now": datetime.now(UTC).isoformat(),
    }


def display_context(delivery: Delivery) -> dict[str, Any]:
    """`triggerContext` in the execution log: event, path, method, safe headers, body (cut)."""
    webhook = webhook_context(delivery)
    body = webhook["body"]
    raw = webhook.pop("rawBody")
    if len(raw) > DISPLAY_BODY_CHARS:
        body = raw[:DISPLAY_BODY_CHARS] + "… (truncated)"
    webhook["body"] = body
    return webhook

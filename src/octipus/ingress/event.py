"""Event type and delivery id of an incoming request, from the headers the providers send
(ingress/providers/registry.py lists them) or else the body."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from octipus.ingress.providers.registry import DELIVERY_ID_HEADERS, EVENT_TYPE_HEADERS, PROVIDERS

# Providers that send their delivery id in the body, with the signature header that shows them.
_BODY_IDS = tuple(
    (p.body_delivery_id, tuple(h.lower() for h in p.signature_headers))
    for p in PROVIDERS
    if p.body_delivery_id
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
    if isinstance(body, Mapping):
        for field, signature_headers in _BODY_IDS:
            value = body.get(field)
            if any(h in headers for h in signature_headers) and isinstance(value, str) and value:
                return value[:200]
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

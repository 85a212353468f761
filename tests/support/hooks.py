"""Helpers to create hooks and send signed deliveries in tests."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from tests.support.signing import github_signature


def unique_path(prefix: str = "t") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def make_hook(
    client: httpx.Client, path: str, secret: str | None = "s3cret-value", **fields: Any
) -> dict[str, Any]:
    """Create a hook (default: a forward to an unroutable name, so nothing runs) and return it."""
    trigger: dict[str, Any] = {"webhookPath": path, **fields.pop("triggerConfig", {})}
    if secret is not None:
        trigger["webhookSecret"] = secret
    body = {
        "name": fields.pop("name", f"hook {path}"),
        "trigger": "webhook",
        "triggerConfig": trigger,
        "action": fields.pop("action", "notify"),
        "actionConfig": fields.pop("actionConfig", {"notifyOwner": True}),
        **fields,
    }
    response = client.post("/api/hooks", json=body)
    assert response.status_code == 201, response.text
    return response.json()["hook"]


def send_github(
    base_url: str,
    path: str,
    body: bytes,
    secret: str,
    event: str = "push",
    delivery: str | None = None,
    content_type: str = "application/json",
) -> httpx.Response:
    """POST `body` signed like GitHub does, with event and delivery headers."""
    headers = {
        "Content-Type": content_type,
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
        "X-Hub-Signature-256": github_signature(secret, body),
    }
    return httpx.post(f"{base_url}/api/webhooks/{path}", content=body, headers=headers, timeout=30)

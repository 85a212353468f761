"""Handshakes answered after verification instead of queueing (Slack url_verification)."""

from __future__ import annotations

from typing import Any


def handshake_response(provider: str, body: Any) -> dict[str, Any] | None:
    """The JSON to answer for a verified handshake request, or None for a normal delivery."""
    if provider == "slack" and isinstance(body, dict) and body.get("type") == "url_verification":
        return {"challenge": body.get("challenge")}
    return None

"""Handshakes answered after verification instead of queueing (Slack url_verification)."""

from __future__ import annotations

from typing import Any

# Under "auto" the request has just verified with the hook's own secret, and only Slack sends
# this body, so an auto hook answers it too (the ingress passes the hook's configured provider).
_SLACK_PROVIDERS = ("slack", "auto")


def handshake_response(provider: str, body: Any) -> dict[str, Any] | None:
    """The JSON to answer for a verified handshake request, or None for a normal delivery."""
    if (
        provider in _SLACK_PROVIDERS
        and isinstance(body, dict)
        and body.get("type") == "url_verification"
        and isinstance(body.get("challenge"), str)
    ):
        return {"challenge": body["challenge"]}
    return None

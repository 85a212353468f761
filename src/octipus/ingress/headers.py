"""Which request headers are kept with a delivery: never credentials or signatures."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from octipus.ingress.providers.registry import SIGNATURE_HEADERS

# Credentials of any request, and every provider's signature header.
SENSITIVE_HEADERS = SIGNATURE_HEADERS | {
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
    "x-telegram-bot-api-secret-token",
    "x-api-key",
}


def safe_headers(headers: Mapping[str, str], extra_sensitive: Iterable[str] = ()) -> dict[str, str]:
    """Lower-cased headers minus credentials, signatures and any hook-specific signature header."""
    drop = SENSITIVE_HEADERS | {h.lower() for h in extra_sensitive}
    return {k.lower(): v for k, v in headers.items() if k.lower() not in drop}

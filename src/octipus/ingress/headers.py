"""Which request headers are kept with a delivery in plain text: never credentials or signatures.

Those left out are kept apart, encrypted (`sealed_headers`), so that `octipus listen` can replay
a delivery whole to its owner's machine, where the sender's signature must still verify.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import orjson

from octipus.db.keyring import active_keyring, open_sealed
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


def sealed_headers(headers: Mapping[str, str], kept: Mapping[str, str]) -> dict[str, str] | None:
    """The lower-cased `headers` not in `kept` (what `safe_headers` left out) as one encrypted
    JSON object; None when there are none."""
    left_out = {k.lower(): v for k, v in headers.items() if k.lower() not in kept}
    if not left_out:
        return None
    return active_keyring().seal(orjson.dumps(left_out).decode())


def opened_headers(sealed: Mapping[str, Any] | None) -> dict[str, str]:
    """The headers `sealed_headers` encrypted."""
    if not sealed:
        return {}
    opened: dict[str, str] = orjson.loads(open_sealed(sealed))
    return opened

"""Linear: `Linear-Signature: <hex>` of the body; the body's `webhookTimestamp` (ms) within 60 s."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Literal

import orjson

from octipus.ingress.providers.core import (
    Detect,
    Provider,
    Request,
    SignOptions,
    TriggerConfigBase,
    VerificationError,
)
from octipus.ingress.providers.mac import BodySignature, check_fresh, hex_mac, utf8_keys

TOLERANCE_SECONDS = 60
SIGNATURE = BodySignature(("Linear-Signature",))


class LinearConfig(TriggerConfigBase):
    provider: Literal["linear"]


def body_timestamp_ms(body: bytes) -> float | None:
    """Linear's `webhookTimestamp` (Unix ms) from a JSON object body, or None without one."""
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    value = payload.get("webhookTimestamp") if isinstance(payload, dict) else None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


@dataclass(frozen=True)
class LinearVerifier:
    """`Linear-Signature: <hex>` of the raw body; body `webhookTimestamp` (ms) within 60 s."""

    keys: tuple[bytes, ...]
    tolerance: int = TOLERANCE_SECONDS
    provider: str = "linear"

    def verify(self, request: Request) -> None:
        name = SIGNATURE.check(request, self.keys)
        timestamp_ms = body_timestamp_ms(request.body)
        if timestamp_ms is None:
            raise VerificationError("missing webhookTimestamp (Unix ms) in the Linear body", name)
        check_fresh(timestamp_ms / 1000, request.now, self.tolerance, "webhookTimestamp")


def build(config: LinearConfig, name: str) -> LinearVerifier:
    return LinearVerifier(utf8_keys(config.secrets), config.tolerance(TOLERANCE_SECONDS))


def sign(name: str, secret: str, body: bytes, options: SignOptions) -> dict[str, str]:
    return {"Linear-Signature": hex_mac(secret, body)}


def stamp_body(body: bytes, now_ms: int | None) -> bytes:
    """Add `webhookTimestamp` (Unix ms) to a JSON object body that lacks one."""
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        return body
    if not isinstance(payload, dict) or "webhookTimestamp" in payload:
        return body
    payload["webhookTimestamp"] = int(time.time() * 1000) if now_ms is None else now_ms
    return orjson.dumps(payload)


PROVIDER = Provider(
    names=("linear",),
    titles=("Linear",),
    config=LinearConfig,
    build=build,
    sign=sign,
    signature_headers=("Linear-Signature",),
    detect=(Detect("Linear-Signature", 40),),
    event_header="Linear-Event",
    delivery_headers=("Linear-Delivery",),
    stamp_body=stamp_body,
)

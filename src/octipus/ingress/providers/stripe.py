"""Stripe: `Stripe-Signature: t=<ts>,v1=<hex>[,v1=…]` over `{t}.{body}`; key = the whole secret."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from octipus.ingress.providers.core import (
    DEFAULT_TOLERANCE_SECONDS,
    Detect,
    Provider,
    Request,
    SignOptions,
    TriggerConfigBase,
    VerificationError,
)
from octipus.ingress.providers.mac import (
    check_fresh,
    check_mac,
    decode_signature,
    header,
    hex_mac,
    is_unix_seconds,
    utf8_keys,
)


class StripeConfig(TriggerConfigBase):
    provider: Literal["stripe"]


@dataclass(frozen=True)
class StripeVerifier:
    """`Stripe-Signature: t=<ts>,v1=<hex>[,v1=…]` over `{t}.{body}`."""

    keys: tuple[bytes, ...]
    tolerance: int = DEFAULT_TOLERANCE_SECONDS
    provider: str = "stripe"

    def verify(self, request: Request) -> None:
        name, value = header(request, "Stripe-Signature")
        timestamp: str | None = None
        given: list[bytes] = []
        for item in value.split(","):
            key, _, text = item.strip().partition("=")
            if key == "t" and timestamp is None:
                timestamp = text
            elif key == "v1" and (decoded := decode_signature(text, "hex")) is not None:
                given.append(decoded)
        if timestamp is None or not is_unix_seconds(timestamp) or not given:
            raise VerificationError(
                f"malformed {name} header: expected t=<unix seconds>,v1=<hex>", name
            )
        check_mac(self.keys, timestamp.encode() + b"." + request.body, given, name)
        check_fresh(int(timestamp), request.now, self.tolerance, name)


def build(config: StripeConfig, name: str) -> StripeVerifier:
    return StripeVerifier(utf8_keys(config.secrets), config.tolerance())


def sign(name: str, secret: str, body: bytes, options: SignOptions) -> dict[str, str]:
    ts = options.timestamp
    return {"Stripe-Signature": f"t={ts},v1={hex_mac(secret, f'{ts}.'.encode() + body)}"}


PROVIDER = Provider(
    names=("stripe",),
    titles=("Stripe",),
    config=StripeConfig,
    build=build,
    sign=sign,
    signature_headers=("Stripe-Signature",),
    detect=(Detect("Stripe-Signature", 10),),
    body_delivery_id="id",  # the event's id: Stripe sends no delivery header
)

"""Shopify: `X-Shopify-Hmac-Sha256: <base64>` of the body."""

from __future__ import annotations

from typing import Literal

from octipus.ingress.providers.core import Detect, Provider, SignOptions, TriggerConfigBase
from octipus.ingress.providers.mac import (
    BodyHmacVerifier,
    BodySignature,
    base64_mac,
    text_bytes,
    utf8_keys,
)

SIGNATURE = BodySignature(("X-Shopify-Hmac-Sha256",), encoding="base64")


class ShopifyConfig(TriggerConfigBase):
    provider: Literal["shopify"]


def build(config: ShopifyConfig, name: str) -> BodyHmacVerifier:
    return BodyHmacVerifier(name, utf8_keys(config.secrets), SIGNATURE)


def sign(name: str, secret: str, body: bytes, options: SignOptions) -> dict[str, str]:
    return {"X-Shopify-Hmac-Sha256": base64_mac(text_bytes(secret), body)}


PROVIDER = Provider(
    names=("shopify",),
    titles=("Shopify",),
    config=ShopifyConfig,
    build=build,
    sign=sign,
    signature_headers=("X-Shopify-Hmac-Sha256",),
    detect=(Detect("X-Shopify-Hmac-Sha256", 70),),
    event_header="X-Shopify-Topic",
    delivery_headers=("X-Shopify-Webhook-Id",),
    body_signed=True,
)

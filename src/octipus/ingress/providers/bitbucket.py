"""Bitbucket Cloud: `X-Hub-Signature: sha256=<hex>` of the body."""

from __future__ import annotations

from typing import Literal

from octipus.ingress.providers.core import Detect, Provider, SignOptions, TriggerConfigBase
from octipus.ingress.providers.mac import BodyHmacVerifier, BodySignature, hex_mac, utf8_keys

SIGNATURE = BodySignature(("X-Hub-Signature",), "sha256=")


class BitbucketConfig(TriggerConfigBase):
    provider: Literal["bitbucket"]


def build(config: BitbucketConfig, name: str) -> BodyHmacVerifier:
    return BodyHmacVerifier(name, utf8_keys(config.secrets), SIGNATURE)


def sign(name: str, secret: str, body: bytes, options: SignOptions) -> dict[str, str]:
    return {"X-Hub-Signature": "sha256=" + hex_mac(secret, body)}


PROVIDER = Provider(
    names=("bitbucket",),
    titles=("Bitbucket",),
    config=BitbucketConfig,
    build=build,
    sign=sign,
    signature_headers=("X-Hub-Signature",),
    detect=(Detect("X-Hub-Signature", 80, lambda value: value.strip().startswith("sha256=")),),
    event_header="X-Event-Key",
    delivery_headers=("X-Request-UUID",),
    body_signed=True,
)

"""Gitea, Forgejo and Gogs: `X-Gitea-Signature` (or Forgejo's/Gogs' twin) with the hex body HMAC."""

from __future__ import annotations

from typing import Literal

from octipus.ingress.providers.core import Detect, Provider, SignOptions, TriggerConfigBase
from octipus.ingress.providers.mac import BodyHmacVerifier, BodySignature, hex_mac, utf8_keys

HEADERS = ("X-Gitea-Signature", "X-Forgejo-Signature", "X-Gogs-Signature")
SIGNATURE = BodySignature(HEADERS)


class GiteaConfig(TriggerConfigBase):
    provider: Literal["gitea", "forgejo"]


def build(config: GiteaConfig, name: str) -> BodyHmacVerifier:
    return BodyHmacVerifier(name, utf8_keys(config.secrets), SIGNATURE)


def sign(name: str, secret: str, body: bytes, options: SignOptions) -> dict[str, str]:
    return {f"X-{name.capitalize()}-Signature": hex_mac(secret, body)}


PROVIDER = Provider(
    names=("gitea", "forgejo"),
    titles=("Gitea", "Forgejo"),
    config=GiteaConfig,
    build=build,
    sign=sign,
    signature_headers=HEADERS,
    detect=tuple(Detect(h, 60 + i) for i, h in enumerate(HEADERS)),
    event_header="X-Gitea-Event",
    delivery_headers=("X-Gitea-Delivery",),
    body_signed=True,
)

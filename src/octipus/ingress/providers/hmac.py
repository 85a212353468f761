"""`hmac`: any sender that puts `<prefix><hex|base64 HMAC of the body>` in a header of its own."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from octipus.ingress.providers.core import Provider, SignOptions, TriggerConfigBase
from octipus.ingress.providers.mac import (
    BodyHmacVerifier,
    BodySignature,
    base64_mac,
    hex_mac,
    text_bytes,
    utf8_keys,
)

HEADER_NAME = r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}$"


class HmacConfig(TriggerConfigBase):
    provider: Literal["hmac"]
    signatureHeader: str = Field(
        pattern=HEADER_NAME,
        description='an HTTP header name, required for provider "hmac", e.g. "X-Signature"',
    )
    algorithm: Literal["sha1", "sha256", "sha512"] | None = None
    encoding: Literal["hex", "base64"] | None = None
    prefix: str | None = Field(
        default=None, max_length=100, description='a short string, e.g. "sha256="'
    )


def build(config: HmacConfig, name: str) -> BodyHmacVerifier:
    signature = BodySignature(
        (config.signatureHeader,),
        config.prefix or "",
        config.algorithm or "sha256",
        config.encoding or "hex",
    )
    return BodyHmacVerifier(name, utf8_keys(config.secrets), signature)


def sign(name: str, secret: str, body: bytes, options: SignOptions) -> dict[str, str]:
    if options.encoding == "base64":
        mac = base64_mac(text_bytes(secret), body, options.algorithm)
    else:
        mac = hex_mac(secret, body, options.algorithm)
    return {options.signature_header: options.prefix + mac}


PROVIDER = Provider(
    names=("hmac",),
    titles=("Generic HMAC",),
    config=HmacConfig,
    build=build,
    sign=sign,
    signature_headers=(),  # the hook's own signatureHeader (hooks/cache.py keeps it unstored)
    event_header="X-Event-Key",
)

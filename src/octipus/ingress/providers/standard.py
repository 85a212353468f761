"""Standard Webhooks (and Svix's `svix-*` twins): `v1,<base64>` of `{id}.{ts}.{body}`."""

from __future__ import annotations

import base64
import binascii
import uuid
from dataclasses import dataclass
from typing import Literal, Self

from pydantic import ValidationInfo, model_validator

from octipus.ingress.providers.core import (
    DEFAULT_TOLERANCE_SECONDS,
    Detect,
    Provider,
    Request,
    SignOptions,
    TriggerConfigBase,
    VerificationError,
    saving,
)
from octipus.ingress.providers.mac import (
    base64_mac,
    check_fresh,
    check_mac,
    decode_signature,
    header,
    text_bytes,
    unix_seconds,
)

SECRET_PREFIX = "whsec_"
SECRET_RULE = (
    "triggerConfig.webhookSecret must be a Standard Webhooks secret: whsec_ followed by"
    " base64, as the sender shows it (every webhookSecrets entry too)"
)


def standard_key(secret: str) -> bytes | None:
    """The HMAC key of a Standard Webhooks secret (`whsec_<base64>`), or None if it is not one."""
    encoded = secret.removeprefix(SECRET_PREFIX)
    encoded += "=" * (-len(encoded) % 4)
    try:
        key = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        return None
    return key or None


def standard_keys(secrets: tuple[str, ...]) -> tuple[bytes, ...]:
    """The keys of those `secrets` that are Standard Webhooks secrets."""
    return tuple(key for s in secrets if (key := standard_key(s)) is not None)


class StandardConfig(TriggerConfigBase):
    provider: Literal["standard", "svix"]

    @model_validator(mode="after")
    def _standard_secrets(self, info: ValidationInfo) -> Self:
        """Every secret decodes; a new `standard` one is written as shown, `whsec_<base64>`
        (the bare base64 of hooks saved before that rule still verifies)."""
        bad = any(standard_key(s) is None for s in self.secrets)
        if self.provider == "standard" and saving(info):
            bad = bad or not all(s.startswith(SECRET_PREFIX) for s in self.secrets)
        if bad:
            raise ValueError(SECRET_RULE)
        return self


@dataclass(frozen=True)
class StandardVerifier:
    """Standard Webhooks (or Svix's `svix-*` twins): `v1,<base64>` of `{id}.{ts}.{body}`."""

    keys: tuple[bytes, ...]
    tolerance: int = DEFAULT_TOLERANCE_SECONDS
    provider: str = "standard"

    def verify(self, request: Request) -> None:
        name, value = header(request, "webhook-signature", "svix-signature")
        family = name.split("-")[0]
        _, msg_id = header(request, f"{family}-id")
        ts_header, ts_text = header(request, f"{family}-timestamp")
        timestamp = unix_seconds(ts_header, ts_text)
        given = [
            decoded
            for version, _, text in (item.partition(",") for item in value.split())
            if version == "v1" and (decoded := decode_signature(text, "base64")) is not None
        ]
        if not given:
            raise VerificationError(
                f"malformed {name} header: expected v1,<base64> [v1,<base64> …]", name
            )
        if not self.keys:
            raise VerificationError(
                "no webhookSecret of this hook is a Standard Webhooks secret"
                " (whsec_ followed by base64)",
                name,
            )
        message = text_bytes(f"{msg_id}.{ts_text}.") + request.body
        check_mac(self.keys, message, given, name)
        check_fresh(timestamp, request.now, self.tolerance, ts_header)


def build(config: StandardConfig, name: str) -> StandardVerifier:
    return StandardVerifier(standard_keys(config.secrets), config.tolerance(), name)


def signed_headers(secret: str, body: bytes, options: SignOptions, family: str) -> dict[str, str]:
    """The `{family}-id/-timestamp/-signature` headers for `body` (family webhook or svix)."""
    key = standard_key(secret)
    if key is None:
        raise ValueError("a Standard Webhooks secret is whsec_ followed by base64")
    msg_id = options.message_id or f"msg_{uuid.uuid4().hex}"
    ts = options.timestamp
    return {
        f"{family}-id": msg_id,
        f"{family}-timestamp": str(ts),
        f"{family}-signature": "v1," + base64_mac(key, f"{msg_id}.{ts}.".encode() + body),
    }


def sign(name: str, secret: str, body: bytes, options: SignOptions) -> dict[str, str]:
    return signed_headers(secret, body, options, "svix" if name == "svix" else "webhook")


PROVIDER = Provider(
    names=("standard", "svix"),
    titles=("Standard Webhooks", "Svix"),
    config=StandardConfig,
    build=build,
    sign=sign,
    signature_headers=("webhook-signature", "svix-signature"),
    detect=(Detect("webhook-signature", 20), Detect("svix-signature", 21)),
    delivery_headers=("webhook-id", "svix-id"),
)

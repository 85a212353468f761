"""GitLab: `X-Gitlab-Token: <secret>` compared in constant time, or GitLab's signing-token mode,
which sends Standard Webhooks headers (preferred when present)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Literal

from octipus.ingress.providers.core import (
    Detect,
    Provider,
    Request,
    SignOptions,
    TriggerConfigBase,
    VerificationError,
)
from octipus.ingress.providers.mac import header, matches_any, text_bytes
from octipus.ingress.providers.standard import (
    SECRET_PREFIX,
    StandardVerifier,
    signed_headers,
    standard_keys,
)


class GitLabConfig(TriggerConfigBase):
    provider: Literal["gitlab"]


@dataclass(frozen=True)
class GitLabVerifier:
    """The token in constant time, or the Standard Webhooks signature when one is sent."""

    token_hashes: tuple[bytes, ...]
    signing: StandardVerifier
    provider: str = "gitlab"

    def verify(self, request: Request) -> None:
        if "webhook-signature" in request.headers:
            self.signing.verify(request)
            return
        name, value = header(request, "X-Gitlab-Token", "webhook-signature")
        # Hash both sides so the comparison time does not depend on the secret's length.
        if not matches_any(self.token_hashes, hashlib.sha256(text_bytes(value)).digest()):
            raise VerificationError(f"token mismatch for {name}", name)


def build(config: GitLabConfig, name: str) -> GitLabVerifier:
    hashes = tuple(hashlib.sha256(text_bytes(s)).digest() for s in config.secrets)
    signing = StandardVerifier(standard_keys(config.secrets), config.tolerance(), name)
    return GitLabVerifier(hashes, signing)


def sign(name: str, secret: str, body: bytes, options: SignOptions) -> dict[str, str]:
    """The token; a secret starting with `whsec_` is a signing token (Standard Webhooks)."""
    if secret.startswith(SECRET_PREFIX):
        return signed_headers(secret, body, options, "webhook")
    return {"X-Gitlab-Token": secret}


PROVIDER = Provider(
    names=("gitlab",),
    titles=("GitLab",),
    config=GitLabConfig,
    build=build,
    sign=sign,
    signature_headers=("X-Gitlab-Token",),
    detect=(Detect("X-Gitlab-Token", 90),),
    event_header="X-Gitlab-Event",
    delivery_headers=("X-Gitlab-Event-UUID", "X-Gitlab-Webhook-UUID"),
)

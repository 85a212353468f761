"""Signature verification, one small verifier per provider scheme (DESIGN §3.2).

Every verifier checks the raw bytes in constant time before anything is parsed. A hook's
verifier is built once from its `triggerConfig` (when the hook cache loads) and reused.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol


class VerificationError(Exception):
    """Why a request did not verify; the message is safe to show (never a secret)."""

    def __init__(self, reason: str, header: str | None = None):
        super().__init__(reason)
        self.reason = reason
        self.header = header


def hmac_digest(secret: bytes, message: bytes, algorithm: str = "sha256") -> bytes:
    return hmac.new(secret, message, getattr(hashlib, algorithm)).digest()


def matches_any(expected: Sequence[bytes], given: bytes) -> bool:
    """Constant-time: compare `given` against every candidate without short-circuiting."""
    ok = False
    for candidate in expected:
        ok |= hmac.compare_digest(candidate, given)
    return ok


@dataclass(frozen=True)
class Request:
    """What a verifier sees: lower-cased headers, the raw body, the current Unix time."""

    headers: Mapping[str, str]
    body: bytes
    now: float


class Verifier(Protocol):
    provider: str

    def verify(self, request: Request) -> None:
        """Return when the request is authentic; raise VerificationError saying why not."""
        ...


@dataclass(frozen=True)
class GitHubVerifier:
    """`X-Hub-Signature-256: sha256=<hex>` over the raw body."""

    secrets: tuple[bytes, ...]
    provider: str = "github"
    header: str = "X-Hub-Signature-256"

    def verify(self, request: Request) -> None:
        value = request.headers.get(self.header.lower())
        if value is None:
            raise VerificationError(f"missing {self.header} header", self.header)
        prefix, _, hexdigest = value.strip().partition("=")
        if prefix != "sha256" or not hexdigest:
            raise VerificationError(
                f"malformed {self.header} header: expected sha256=<hex>", self.header
            )
        try:
            given = bytes.fromhex(hexdigest)
        except ValueError:
            raise VerificationError(
                f"malformed {self.header} header: not hex", self.header
            ) from None
        expected = [hmac_digest(s, request.body) for s in self.secrets]
        if not matches_any(expected, given):
            raise VerificationError(f"signature mismatch for {self.header}", self.header)


class NoSecretVerifier:
    """A hook without a secret: every request is refused (the seed's rule)."""

    provider = "none"

    def verify(self, request: Request) -> None:
        raise VerificationError(
            "hook has no webhookSecret configured; set one to accept deliveries"
        )


def hook_secrets(trigger_config: Mapping[str, Any]) -> list[str]:
    """`webhookSecret` then every `webhookSecrets` entry (rotation), blanks dropped."""
    found = [trigger_config.get("webhookSecret")]
    extra = trigger_config.get("webhookSecrets") or []
    if isinstance(extra, list):
        found.extend(extra)
    return [s for s in found if isinstance(s, str) and s]


def build_verifier(trigger_config: Mapping[str, Any]) -> Verifier:
    """The verifier for one hook's `triggerConfig`."""
    secrets = tuple(s.encode() for s in hook_secrets(trigger_config))
    if not secrets:
        return NoSecretVerifier()
    return GitHubVerifier(secrets)


SUPPORTED_PROVIDERS = ("auto", "github")


def validate_verification_config(trigger_config: Mapping[str, Any]) -> None:
    """Check a `triggerConfig`'s verification fields at save time; ValueError names the field."""
    provider = trigger_config.get("provider", "auto")
    if provider not in SUPPORTED_PROVIDERS:
        raise ValueError(
            f"triggerConfig.provider '{provider}' is unknown;"
            f" use one of {', '.join(SUPPORTED_PROVIDERS)}"
        )
    extra = trigger_config.get("webhookSecrets")
    if extra is not None and (
        not isinstance(extra, list) or not all(isinstance(s, str) for s in extra)
    ):
        raise ValueError("triggerConfig.webhookSecrets must be a list of strings")

"""Helpers for the verifier unit tests: build a hook's verifier and run one request through it."""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from typing import Any

import pytest

from octipus.ingress.providers.core import Request, VerificationError
from octipus.ingress.providers.registry import sign_headers
from octipus.ingress.providers.verifier import build_verifier

NOW = 1_700_000_000
SECRET = "s3cret-value"
STANDARD_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
OTHER_STANDARD_SECRET = "whsec_dGVzdHRlc3R0ZXN0dGVzdHRlc3R0ZXN0dGVzdHRlc3Q="
BODY = b'{"id":820982911946154508,"email":"jon@example.com"}'


def mac(algorithm: str = "sha256", secret: str = SECRET, body: bytes = BODY) -> bytes:
    """The raw HMAC of `body`, computed independently of Octipus (stdlib hmac)."""
    return hmac.new(secret.encode(), body, algorithm).digest()


def request(headers: Mapping[str, str], body: bytes, now: float = NOW, url: str = "") -> Request:
    """A verifier request as the ingress builds it: header names lower-cased."""
    return Request({k.lower(): v for k, v in headers.items()}, body, now, url)


def check(
    config: Mapping[str, Any],
    headers: Mapping[str, str],
    body: bytes,
    now: float = NOW,
    url: str = "",
) -> None:
    """Verify one request against a hook's triggerConfig; raises VerificationError if refused."""
    build_verifier(config).verify(request(headers, body, now, url))


def reason(
    config: Mapping[str, Any],
    headers: Mapping[str, str],
    body: bytes,
    now: float = NOW,
    url: str = "",
) -> str:
    """The reason a request is refused (fails the test if it verifies)."""
    with pytest.raises(VerificationError) as refused:
        check(config, headers, body, now, url)
    return refused.value.reason


def signed(provider: str, secret: str, body: bytes, now: int = NOW, **options: Any) -> dict:
    return sign_headers(provider, secret, body, timestamp=now, **options)

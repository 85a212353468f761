"""Every provider, and every list derived from them: the names `triggerConfig.provider` takes,
auto-detection's order, the event-type, delivery-id and signature headers, signing, handshakes.

Adding a provider is adding its module to `PROVIDERS` (docs/providers.md).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from octipus.ingress.providers import (
    bitbucket,
    gitea,
    github,
    gitlab,
    hmac,
    linear,
    shopify,
    slack,
    standard,
    stripe,
    twilio,
)
from octipus.ingress.providers.core import Detect, Provider, SignOptions

# In the order they are listed to users (GitHub, the default, first).
_MODULES = (
    github,
    gitlab,
    stripe,
    standard,
    slack,
    shopify,
    gitea,
    bitbucket,
    linear,
    hmac,
    twilio,
)
PROVIDERS: tuple[Provider, ...] = tuple(m.PROVIDER for m in _MODULES)
BY_NAME: dict[str, Provider] = {name: p for p in PROVIDERS for name in p.names}
SIGNABLE_PROVIDERS = tuple(BY_NAME)
SUPPORTED_PROVIDERS = ("auto", *SIGNABLE_PROVIDERS)
AUTO = "auto"

# auto's rules, strongest scheme first; the headers it names when none is present.
DETECT_ORDER: tuple[tuple[Detect, Provider], ...] = tuple(
    sorted(((d, p) for p in PROVIDERS for d in p.detect), key=lambda dp: dp[0].rank)
)
AUTO_EXPECTED_HEADERS = ", ".join(dict.fromkeys(d.header for p in PROVIDERS for d in p.detect))
# Senders that are no provider of ours send these; a provider's own header wins.
GENERIC_DELIVERY_HEADERS = ("idempotency-key", "x-idempotency-key")
DELIVERY_ID_HEADERS = tuple(
    dict.fromkeys(
        [h.lower() for p in PROVIDERS for h in p.delivery_headers] + list(GENERIC_DELIVERY_HEADERS)
    )
)
EVENT_TYPE_HEADERS = tuple(
    dict.fromkeys(p.event_header.lower() for p in PROVIDERS if p.event_header)
)
SIGNATURE_HEADERS = frozenset(h.lower() for p in PROVIDERS for h in p.signature_headers)
# A request carrying one of these needs its public URL to verify (building it costs time).
URL_SIGNATURE_HEADERS = frozenset(
    h.lower() for p in PROVIDERS if p.signs_url for h in p.signature_headers
)


def provider_choices() -> list[tuple[str, str]]:
    """(value, label) of every `provider` choice, as the web UI's hook form lists them."""
    choices = [(AUTO, "auto — detect from the headers")]
    for p in PROVIDERS:
        headers = p.signature_headers or ("choose the header",)
        for i, (name, title) in enumerate(zip(p.names, p.titles, strict=True)):
            choices.append((name, f"{title} ({headers[min(i, len(headers) - 1)]})"))
    return choices


def detect_provider(headers: Mapping[str, str]) -> Provider | None:
    """The provider whose signature header is present (strongest scheme first), or None."""
    for rule, provider in DETECT_ORDER:
        value = headers.get(rule.header.lower())
        if value is not None and rule.accepts(value):
            return provider
    return None


def sign_headers(
    provider: str,
    secret: str,
    body: bytes,
    *,
    timestamp: int | None = None,
    message_id: str | None = None,
    url: str = "",
    content_type: str = "application/json",
    signature_header: str = "X-Signature",
    algorithm: str = "sha256",
    encoding: str = "hex",
    prefix: str = "",
) -> dict[str, str]:
    """The signature headers `provider` would send for `body` (`auto` signs like GitHub).

    `timestamp` (Unix seconds, default now) and `message_id` feed the timestamped schemes, `url`
    the URL-signing ones (Twilio); the `hmac` scheme takes `signature_header`, `algorithm`,
    `encoding` and `prefix`. A gitlab secret starting with `whsec_` is a signing token.
    Linear's timestamp lives in the body: see `stamp_body`.
    """
    found = BY_NAME.get("github" if provider == AUTO else provider)
    if found is None:
        raise ValueError(
            f"cannot sign for provider {provider!r}; use one of {', '.join(SIGNABLE_PROVIDERS)}"
        )
    options = SignOptions(
        int(time.time()) if timestamp is None else timestamp,
        message_id,
        url,
        content_type,
        signature_header,
        algorithm,
        encoding,
        prefix,
    )
    return found.sign(provider, secret, body, options)


def stamp_body(provider: str, body: bytes, now_ms: int | None = None) -> bytes:
    """The body as `provider` sends it (Linear adds its `webhookTimestamp`, Unix ms)."""
    found = BY_NAME.get(provider)
    return body if found is None else found.stamp_body(body, now_ms)


def handshake_response(provider: str, body: Any) -> dict[str, Any] | None:
    """The JSON to answer for a verified handshake request (Slack's url_verification), or None.

    Under "auto" the request has just verified with the hook's own secret, and a handshake body
    is specific to its sender, so an auto hook answers every provider's handshake.
    """
    pinned = BY_NAME.get(provider)
    candidates = PROVIDERS if provider == AUTO else (pinned,) if pinned else ()
    for candidate in candidates:
        answer = candidate.handshake(body)
        if answer is not None:
            return answer
    return None

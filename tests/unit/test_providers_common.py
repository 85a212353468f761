"""Behaviour every scheme shares, signed with our own `sign_headers` (the mirror of verify)."""

from __future__ import annotations

from typing import Any

import pytest

from octipus.ingress.providers.registry import stamp_body
from tests.unit.verify_support import (
    NOW,
    OTHER_STANDARD_SECRET,
    SECRET,
    STANDARD_SECRET,
    check,
    reason,
    signed,
)

BODY = b'{"type":"invoice.paid","id":"evt_1","amount":1}'

# provider -> (its secret, its rotated-in secret, the header a refusal names)
SCHEMES: dict[str, tuple[str, str, str]] = {
    "github": (SECRET, "next-secret", "X-Hub-Signature-256"),
    "stripe": ("whsec_stripe_one", "whsec_stripe_two", "Stripe-Signature"),
    "standard": (STANDARD_SECRET, OTHER_STANDARD_SECRET, "webhook-signature"),
    "svix": (STANDARD_SECRET, OTHER_STANDARD_SECRET, "svix-signature"),
    "slack": (SECRET, "next-secret", "X-Slack-Signature"),
    "shopify": (SECRET, "next-secret", "X-Shopify-Hmac-Sha256"),
    "gitea": (SECRET, "next-secret", "X-Gitea-Signature"),
    "forgejo": (SECRET, "next-secret", "X-Forgejo-Signature"),
    "bitbucket": (SECRET, "next-secret", "X-Hub-Signature"),
    "linear": (SECRET, "next-secret", "Linear-Signature"),
    "hmac": (SECRET, "next-secret", "X-Signature"),
}
BODY_SIGNING = list(SCHEMES)
ALL = [*SCHEMES, "gitlab"]


def config(provider: str, secret: str, **extra: Any) -> dict[str, Any]:
    cfg = {"provider": provider, "webhookSecret": secret, **extra}
    if provider == "hmac":
        cfg["signatureHeader"] = "X-Signature"
    return cfg


def body_for(provider: str) -> bytes:
    return stamp_body(provider, BODY, now_ms=NOW * 1000)


@pytest.mark.parametrize("provider", BODY_SIGNING)
def test_signed_request_verifies_when_pinned(provider: str):
    secret = SCHEMES[provider][0]
    body = body_for(provider)
    check(config(provider, secret), signed(provider, secret, body), body)


@pytest.mark.parametrize("provider", [p for p in BODY_SIGNING if p != "hmac"])
def test_signed_request_verifies_under_auto(provider: str):
    secret = SCHEMES[provider][0]
    body = body_for(provider)
    check({"webhookSecret": secret}, signed(provider, secret, body), body)


@pytest.mark.parametrize("provider", BODY_SIGNING)
def test_wrong_secret_is_a_signature_mismatch_for_the_header(provider: str):
    secret, other, header = SCHEMES[provider]
    body = body_for(provider)
    refused = reason(config(provider, secret), signed(provider, other, body), body)
    assert refused == f"signature mismatch for {header}"


@pytest.mark.parametrize("provider", BODY_SIGNING)
def test_tampered_body_is_a_signature_mismatch(provider: str):
    secret, _, header = SCHEMES[provider]
    body = body_for(provider)
    tampered = body.replace(b'"amount":1', b'"amount":9')
    refused = reason(config(provider, secret), signed(provider, secret, body), tampered)
    assert refused == f"signature mismatch for {header}"


@pytest.mark.parametrize("provider", BODY_SIGNING)
def test_missing_signature_header_is_named(provider: str):
    secret, _, header = SCHEMES[provider]
    refused = reason(config(provider, secret), {"Content-Type": "application/json"}, BODY)
    assert refused.startswith("missing ") and header in refused


@pytest.mark.parametrize("provider", BODY_SIGNING)
@pytest.mark.parametrize("signer", ["current", "rotated"])
def test_any_secret_of_a_rotation_verifies(provider: str, signer: str):
    secret, rotated, _ = SCHEMES[provider]
    body = body_for(provider)
    cfg = config(provider, secret, webhookSecrets=[rotated])
    check(cfg, signed(provider, secret if signer == "current" else rotated, body), body)


@pytest.mark.parametrize("provider", ALL)
def test_reason_never_contains_a_secret_or_the_expected_signature(provider: str):
    secret, other, _ = SCHEMES.get(provider, (SECRET, "next-secret", ""))
    body = body_for(provider)
    good = signed(provider, secret, body)
    forged = signed(provider, other, body)
    refused = reason(config(provider, secret), forged, body)
    assert secret not in refused
    assert not any(value in refused for value in good.values() if len(value) > 12)


@pytest.mark.parametrize("provider", ["stripe", "standard", "svix", "slack"])
@pytest.mark.parametrize("skew", [-301, 301])
def test_stale_or_future_timestamp_is_outside_tolerance(provider: str, skew: int):
    secret = SCHEMES[provider][0]
    headers = signed(provider, secret, BODY, now=NOW + skew)
    assert reason(config(provider, secret), headers, BODY).startswith("timestamp outside tolerance")


@pytest.mark.parametrize("provider", ["stripe", "standard", "svix", "slack"])
def test_timestamp_within_tolerance_verifies(provider: str):
    secret = SCHEMES[provider][0]
    check(config(provider, secret), signed(provider, secret, BODY, now=NOW - 299), BODY)


@pytest.mark.parametrize("provider", ["stripe", "standard", "svix", "slack", "linear"])
def test_per_hook_tolerance_widens_and_narrows_the_window(provider: str):
    secret = SCHEMES[provider][0]
    at = NOW - 500
    body = stamp_body(provider, BODY, now_ms=at * 1000)
    headers = signed(provider, secret, body, now=at)
    check(config(provider, secret, toleranceSeconds=600), headers, body)
    assert reason(config(provider, secret, toleranceSeconds=400), headers, body).startswith(
        "timestamp outside tolerance"
    )

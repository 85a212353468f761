"""`provider: "auto"`: detection from headers, and no way to downgrade or skip verification."""

from __future__ import annotations

import base64
import hashlib
import hmac

import orjson
import pytest

from octipus.ingress.providers.registry import detect_provider, sign_headers
from tests.unit.verify_support import NOW, SECRET, STANDARD_SECRET, check, reason, signed

AUTO = {"webhookSecret": SECRET}
BODY = b'{"type":"event","n":1}'


@pytest.mark.parametrize(
    ("signer", "detected"),
    [
        ("github", "github"),
        ("gitlab", "gitlab"),
        ("stripe", "stripe"),
        ("standard", "standard"),
        ("svix", "standard"),
        ("slack", "slack"),
        ("shopify", "shopify"),
        ("gitea", "gitea"),
        ("forgejo", "gitea"),
        ("bitbucket", "bitbucket"),
        ("linear", "linear"),
    ],
)
def test_detects_the_scheme_from_its_signature_header(signer: str, detected: str):
    secret = STANDARD_SECRET if signer in ("standard", "svix") else SECRET
    headers = {k.lower(): v for k, v in sign_headers(signer, secret, BODY).items()}
    assert getattr(detect_provider(headers), "name", None) == detected


def test_github_request_with_both_signature_headers_is_github():
    headers = {"x-hub-signature-256": "sha256=00", "x-hub-signature": "sha1=00"}
    assert getattr(detect_provider(headers), "name", None) == "github"


def test_gitlab_signing_mode_prefers_the_signature_over_the_token():
    headers = {"x-gitlab-token": "t", "webhook-signature": "v1,AA=="}
    assert getattr(detect_provider(headers), "name", None) == "standard"


def test_request_without_any_signature_header_is_refused_listing_them():
    refused = reason(AUTO, {"Content-Type": "application/json"}, BODY)
    assert refused.startswith("missing signature header (expected one of X-Hub-Signature-256,")
    for header in (
        "X-Hub-Signature-256",
        "X-Gitlab-Token",
        "X-Slack-Signature",
        "Linear-Signature",
    ):
        assert header in refused


def test_unknown_signature_header_alone_is_refused():
    headers = {"X-Signature": hmac.new(SECRET.encode(), BODY, hashlib.sha256).hexdigest()}
    assert reason(AUTO, headers, BODY).startswith("missing signature header")


def test_hook_without_a_secret_refuses_everything():
    assert reason({}, signed("github", SECRET, BODY), BODY) == (
        "hook has no webhookSecret configured; set one to accept deliveries"
    )


def test_failed_strongest_scheme_does_not_fall_back_to_another_header():
    headers = {**signed("github", SECRET, BODY), **signed("stripe", "wrong-secret", BODY)}
    assert reason(AUTO, headers, BODY) == "signature mismatch for Stripe-Signature"


def github_replay(message: bytes, mac_hex: str) -> tuple[dict[str, str], bytes]:
    """A captured signature re-sent as GitHub's, with the signed string as the body."""
    return {"X-Hub-Signature-256": "sha256=" + mac_hex}, message


def test_captured_slack_request_cannot_be_replayed_as_github():
    captured = signed("slack", SECRET, BODY)
    mac_hex = captured["X-Slack-Signature"].removeprefix("v0=")
    headers, body = github_replay(f"v0:{NOW}:".encode() + BODY, mac_hex)
    refused = reason(AUTO, headers, body, now=NOW + 3600)
    assert "replay across schemes" in refused


def test_captured_stripe_request_cannot_be_replayed_as_github():
    captured = signed("stripe", SECRET, BODY)["Stripe-Signature"]
    headers, body = github_replay(f"{NOW}.".encode() + BODY, captured.split("v1=")[1])
    assert "replay across schemes" in reason(AUTO, headers, body, now=NOW + 3600)


def test_captured_stripe_request_cannot_be_replayed_as_shopify():
    captured = signed("stripe", SECRET, BODY)["Stripe-Signature"]
    mac_b64 = base64.b64encode(bytes.fromhex(captured.split("v1=")[1])).decode()
    headers = {"X-Shopify-Hmac-Sha256": mac_b64}
    assert "replay across schemes" in reason(AUTO, headers, f"{NOW}.".encode() + BODY)


def test_stale_linear_delivery_cannot_be_replayed_as_github():
    body = orjson.dumps({"type": "Issue", "webhookTimestamp": NOW * 1000})
    mac_hex = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    headers = {"X-Hub-Signature-256": "sha256=" + mac_hex}
    check(AUTO, headers, body, now=NOW + 30)
    assert reason(AUTO, headers, body, now=NOW + 3600).startswith(
        "timestamp outside tolerance: webhookTimestamp"
    )


def test_ordinary_json_and_form_bodies_pass_the_replay_guard():
    for body in (
        b'{"version":"1.2.3","ts":1700000000.5}',
        b"payload=%7B%22version%22%3A%221.2.3%22%7D",
        b"release v1.2.3 is out",
    ):
        check(AUTO, signed("github", SECRET, body), body)

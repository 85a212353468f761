"""Slack: the signing docs' example, slack_sdk's signer and verifier, timestamps."""

from __future__ import annotations

import time

import pytest
from slack_sdk.signature import SignatureVerifier

from octipus.ingress.providers.registry import sign_headers
from tests.unit.verify_support import NOW, SECRET, check, reason

SLACK = {"provider": "slack", "webhookSecret": SECRET}
BODY = b'{"type":"event_callback","event":{"type":"app_mention","text":"hi"}}'

DOCS_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
DOCS_TIMESTAMP = 1531420618
DOCS_BODY = (
    b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id="
    b"G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook"
    b"-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F39770"
    b"0885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d1"
    b"0d2c447fce8b6703c"
)
DOCS_SIGNATURE = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"


def slack_headers(secret: str = SECRET, timestamp: int = NOW, body: bytes = BODY) -> dict:
    signature = SignatureVerifier(secret).generate_signature(timestamp=str(timestamp), body=body)
    return {"X-Slack-Request-Timestamp": str(timestamp), "X-Slack-Signature": signature}


@pytest.mark.parametrize("provider", ["slack", "auto"])
def test_slack_docs_example_verifies(provider: str):
    config = {"provider": provider, "webhookSecret": DOCS_SECRET}
    headers = {
        "X-Slack-Request-Timestamp": str(DOCS_TIMESTAMP),
        "X-Slack-Signature": DOCS_SIGNATURE,
    }
    check(config, headers, DOCS_BODY, now=DOCS_TIMESTAMP + 10)


def test_signature_generated_by_slack_sdk_verifies():
    check(SLACK, slack_headers(), BODY)


def test_slack_sdk_accepts_what_octipus_send_signs():
    signed = sign_headers("slack", SECRET, BODY)
    assert SignatureVerifier(SECRET).is_valid(
        BODY, signed["X-Slack-Request-Timestamp"], signed["X-Slack-Signature"]
    )


def test_wrong_version_prefix_is_malformed():
    headers = slack_headers()
    headers["X-Slack-Signature"] = headers["X-Slack-Signature"].replace("v0=", "v1=")
    assert reason(SLACK, headers, BODY) == ("malformed X-Slack-Signature header: expected v0=<hex>")


def test_truncated_signature_is_a_mismatch():
    headers = slack_headers()
    headers["X-Slack-Signature"] = headers["X-Slack-Signature"][:-2]
    assert reason(SLACK, headers, BODY) == "signature mismatch for X-Slack-Signature"


def test_timestamp_changed_after_signing_is_a_mismatch():
    headers = {**slack_headers(), "X-Slack-Request-Timestamp": str(NOW + 1)}
    assert reason(SLACK, headers, BODY) == "signature mismatch for X-Slack-Signature"


def test_missing_timestamp_header_is_named():
    headers = slack_headers()
    del headers["X-Slack-Request-Timestamp"]
    assert reason(SLACK, headers, BODY) == "missing X-Slack-Request-Timestamp header"


@pytest.mark.parametrize("value", ["12ab", "-5", "1e9", "١٢٣"])
def test_non_numeric_timestamp_is_malformed(value: str):
    headers = {**slack_headers(), "X-Slack-Request-Timestamp": value}
    assert reason(SLACK, headers, BODY) == (
        "malformed X-Slack-Request-Timestamp header: expected Unix seconds"
    )


@pytest.mark.parametrize("skew", [-301, 301])
def test_stale_or_future_request_is_outside_tolerance(skew: int):
    refused = reason(SLACK, slack_headers(), BODY, now=NOW + skew)
    assert refused.startswith("timestamp outside tolerance: X-Slack-Request-Timestamp")


def test_request_signed_now_verifies_at_the_real_time():
    check(SLACK, slack_headers(timestamp=int(time.time())), BODY, now=time.time())

"""Linear: `Linear-Signature` over the raw body, and the body's `webhookTimestamp` (ms)."""

from __future__ import annotations

import hashlib
import hmac

import orjson
import pytest

from tests.unit.verify_support import NOW, SECRET, check, reason

LINEAR = {"provider": "linear", "webhookSecret": SECRET}


def delivery(timestamp_ms: object = NOW * 1000, secret: str = SECRET) -> tuple[dict, bytes]:
    body = orjson.dumps({"action": "create", "type": "Issue", "webhookTimestamp": timestamp_ms})
    signature = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {"Linear-Signature": signature, "Linear-Event": "Issue"}, body


@pytest.mark.parametrize("provider", ["linear", "auto"])
def test_fresh_signed_delivery_verifies(provider: str):
    headers, body = delivery()
    check({"provider": provider, "webhookSecret": SECRET}, headers, body, now=NOW + 59)


@pytest.mark.parametrize(("now", "word"), [(NOW + 61, "old"), (NOW - 61, "in the future")])
def test_timestamp_beyond_sixty_seconds_is_outside_tolerance(now: int, word: str):
    headers, body = delivery()
    assert reason(LINEAR, headers, body, now=now) == (
        f"timestamp outside tolerance: webhookTimestamp is 61 s {word}, allowed ±60 s"
        " (check the sender's clock, or a replay)"
    )


@pytest.mark.parametrize("value", [None, "1700000000000", True, [1]])
def test_body_without_a_numeric_webhook_timestamp_is_refused(value: object):
    headers, body = delivery(value)
    assert reason(LINEAR, headers, body) == (
        "missing webhookTimestamp (Unix ms) in the Linear body"
    )


def test_signature_is_checked_before_the_body_is_parsed():
    headers, _ = delivery()
    assert reason(LINEAR, headers, b"not json") == "signature mismatch for Linear-Signature"


def test_wrong_secret_is_a_mismatch():
    headers, body = delivery(secret="other-secret")
    assert reason(LINEAR, headers, body) == "signature mismatch for Linear-Signature"
